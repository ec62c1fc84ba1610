//! A threshold PRF over a FROST key: DkdChoreography's key derivation.
//!
//! The account's derivation root is a FROST key over Ristretto255
//! (`frost-ristretto255`, re-exported as [`frost`]): nobody holds its secret
//! `s`, each device holds a share `s_i` in a `KeyPackage`, and the public
//! `PublicKeyPackage` holds every share's verifying point `s_i·B`. The PRF of
//! `s` at an input `x` is the 2HashDH construction: `x` hashes to a group
//! element `X` (RFC 9496's hash-to-group, `RistrettoPoint::hash_from_bytes`
//! over SHA-512), and the output is a BLAKE3 derivation of `x` and `s·X`.
//!
//! - A holder of `s_i` [`evaluate`]s its partial `s_i·X`, with a DLEq proof
//!   (Serai's `dleq` crate) that it used the scalar of its verifying point;
//!   the proof's transcript binds the caller's context (a derivation, a
//!   participant), so a proof made for one derivation fails in another.
//! - Whoever gathers the partials [`verify`]s each against the public package
//!   and [`combine`]s any `min_signers` of them with FROST's Lagrange
//!   coefficients into `s·X`, then the output. Which subset contributed does
//!   not change the output.
//! - A partial reveals nothing of its share (the discrete logarithm), and
//!   fewer than `min_signers` partials reveal nothing of the output. Nobody,
//!   the combiner included, learns `s`.

use std::collections::BTreeSet;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use dleq::DLEqProof;
use flexible_transcript::{DigestTranscript, Transcript};
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use zeroize::Zeroizing;

use super::{CryptoError, SecretKey};

pub use frost_ristretto255 as frost;

/// A device's share of the derivation root (zeroized on drop).
pub type Share = frost::keys::KeyPackage;

/// The derivation root's public package: the group key and every verifying share.
pub type Public = frost::keys::PublicKeyPackage;

/// A PRF input: its bytes and the group element they hash to.
#[derive(Clone, Debug)]
pub struct Input {
    bytes: Vec<u8>,
    point: RistrettoPoint,
}

impl Input {
    /// The input of `parts` under `domain` for the root whose group key is
    /// `root` (each part length-prefixed, so the framing is unambiguous).
    pub fn new(
        root: &frost::VerifyingKey,
        domain: &str,
        parts: &[&[u8]],
    ) -> Result<Input, CryptoError> {
        let mut bytes = Vec::new();
        let root = root.serialize().map_err(|_| CryptoError::Encoding)?;
        for part in [domain.as_bytes(), &root].iter().chain(parts) {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        let point = RistrettoPoint::hash_from_bytes::<Sha512>(&bytes);
        Ok(Input { bytes, point })
    }
}

/// One share's evaluation at an input, with its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    /// `s_i·X`, compressed.
    pub point: [u8; 32],
    /// The DLEq proof that `point` and the share's verifying point have the
    /// same discrete logarithm (to `X` and to the base point).
    pub proof: Vec<u8>,
}

/// A partial that passed [`verify`], for its share's identifier.
#[derive(Clone, Debug)]
pub struct Verified {
    id: frost::Identifier,
    point: RistrettoPoint,
}

/// The PRF's output: 32 secret bytes (zeroized on drop).
pub type Output = SecretKey;

/// The transcript of a proof bound to `binding`.
fn transcript(binding: &[u8]) -> DigestTranscript<Sha512> {
    let mut t = DigestTranscript::<Sha512>::new(b"choreo/tprf");
    t.append_message(b"binding", binding);
    t
}

/// The share's partial evaluation at `input`, its proof bound to `binding`.
pub fn evaluate(share: &Share, input: &Input, binding: &[u8]) -> Partial {
    let scalar = Zeroizing::new(share.signing_share().to_scalar());
    let proof = DLEqProof::prove(
        &mut super::rng(),
        &mut transcript(binding),
        &[RISTRETTO_BASEPOINT_POINT, input.point],
        &scalar,
    );
    Partial {
        point: (input.point * *scalar).compress().to_bytes(),
        proof: proof.serialize(),
    }
}

/// Checks that `partial` is the evaluation at `input` of the share `id` of
/// `root`, its proof bound to `binding`.
pub fn verify(
    root: &Public,
    id: frost::Identifier,
    input: &Input,
    binding: &[u8],
    partial: &Partial,
) -> Result<Verified, CryptoError> {
    let share = root
        .verifying_shares()
        .get(&id)
        .ok_or(CryptoError::Encoding)?;
    let point = CompressedRistretto(partial.point)
        .decompress()
        .ok_or(CryptoError::Encoding)?;
    let proof = DLEqProof::<RistrettoPoint>::read(&mut partial.proof.as_slice())
        .map_err(|_| CryptoError::Encoding)?;
    proof
        .verify(
            &mut transcript(binding),
            &[RISTRETTO_BASEPOINT_POINT, input.point],
            &[share.to_element(), point],
        )
        .map_err(|_| CryptoError::Proof)?;
    Ok(Verified { id, point })
}

/// The output at `input` from verified partials of at least `min_signers`
/// distinct shares of `root`.
pub fn combine(root: &Public, input: &Input, partials: &[Verified]) -> Result<Output, CryptoError> {
    let ids: BTreeSet<frost::Identifier> = partials.iter().map(|p| p.id).collect();
    let needed = root.min_signers().ok_or(CryptoError::Encoding)?;
    if ids.len() != partials.len() || ids.len() < usize::from(needed) {
        return Err(CryptoError::Encoding);
    }
    let mut sum = RistrettoPoint::default();
    for partial in partials {
        let lambda = frost_core::compute_lagrange_coefficient(&ids, None, partial.id)
            .map_err(|_| CryptoError::Encoding)?;
        sum += partial.point * lambda;
    }
    let evaluated = Zeroizing::new(sum.compress().to_bytes());
    Ok(SecretKey::derive(
        "choreo/tprf/output",
        &[&input.bytes, evaluated.as_slice()],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(n: u16, t: u16) -> (Public, Vec<Share>) {
        let (shares, public) = frost::keys::generate_with_dealer(
            n,
            t,
            frost::keys::IdentifierList::Default,
            super::super::rng(),
        )
        .expect("dealt");
        let shares = shares
            .into_values()
            .map(|s| Share::try_from(s).expect("share"))
            .collect();
        (public, shares)
    }

    fn verified(public: &Public, input: &Input, shares: &[&Share]) -> Vec<Verified> {
        shares
            .iter()
            .map(|s| {
                let p = evaluate(s, input, b"b");
                verify(public, *s.identifier(), input, b"b", &p).expect("verifies")
            })
            .collect()
    }

    #[test]
    fn any_threshold_subset_gives_the_same_output() {
        let (public, shares) = root(5, 3);
        let input = Input::new(public.verifying_key(), "test", &[b"ctx"]).unwrap();
        let a = combine(
            &public,
            &input,
            &verified(&public, &input, &[&shares[0], &shares[1], &shares[2]]),
        );
        let b = combine(
            &public,
            &input,
            &verified(&public, &input, &[&shares[4], &shares[2], &shares[3]]),
        );
        let all: Vec<&Share> = shares.iter().collect();
        let c = combine(&public, &input, &verified(&public, &input, &all));
        assert_eq!(a.as_ref().unwrap(), b.as_ref().unwrap());
        assert_eq!(a.unwrap(), c.unwrap());
        let other = Input::new(public.verifying_key(), "test", &[b"other"]).unwrap();
        let d = combine(&public, &other, &verified(&public, &other, &all)).unwrap();
        assert_ne!(
            d,
            combine(&public, &input, &verified(&public, &input, &all)).unwrap()
        );
    }

    #[test]
    fn the_output_is_the_prf_of_the_root_secret() {
        // Only a test may rebuild the root: the PRF's definition, `s·X`.
        let (public, shares) = root(4, 3);
        let secret = frost::keys::reconstruct(&shares)
            .expect("rebuilt")
            .to_scalar();
        let input = Input::new(public.verifying_key(), "test", &[b"ctx"]).unwrap();
        let evaluated = (input.point * secret).compress().to_bytes();
        let expected = SecretKey::derive("choreo/tprf/output", &[&input.bytes, &evaluated]);
        let some = verified(&public, &input, &[&shares[3], &shares[1], &shares[0]]);
        assert_eq!(combine(&public, &input, &some).unwrap(), expected);
    }

    #[test]
    fn too_few_or_repeated_partials_do_not_combine() {
        let (public, shares) = root(3, 2);
        let input = Input::new(public.verifying_key(), "test", &[]).unwrap();
        let one = verified(&public, &input, &[&shares[0]]);
        assert_eq!(combine(&public, &input, &one), Err(CryptoError::Encoding));
        let twice = verified(&public, &input, &[&shares[0], &shares[0]]);
        assert_eq!(combine(&public, &input, &twice), Err(CryptoError::Encoding));
    }

    #[test]
    fn a_partial_of_another_share_input_or_binding_fails_its_proof() {
        let (public, shares) = root(3, 2);
        let input = Input::new(public.verifying_key(), "test", &[b"x"]).unwrap();
        let p = evaluate(&shares[0], &input, b"b");
        let id0 = *shares[0].identifier();
        let id1 = *shares[1].identifier();
        assert!(verify(&public, id0, &input, b"b", &p).is_ok());
        let check = |id, input: &Input, binding: &[u8], p: &Partial| {
            verify(&public, id, input, binding, p).map(|_| ())
        };
        assert_eq!(check(id1, &input, b"b", &p), Err(CryptoError::Proof));
        assert_eq!(check(id0, &input, b"c", &p), Err(CryptoError::Proof));
        let other = Input::new(public.verifying_key(), "test", &[b"y"]).unwrap();
        assert_eq!(check(id0, &other, b"b", &p), Err(CryptoError::Proof));
        let mut forged = p.clone();
        forged.point = evaluate(&shares[1], &input, b"b").point;
        assert_eq!(check(id0, &input, b"b", &forged), Err(CryptoError::Proof));
        forged.proof.truncate(10);
        assert_eq!(
            check(id0, &input, b"b", &forged),
            Err(CryptoError::Encoding)
        );
    }
}
