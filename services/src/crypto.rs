//! Thin wrappers over the cryptography crates the services use.
//!
//! Nothing here is hand-rolled: hashing, key derivation and MACs are BLAKE3
//! (`blake3`, in its derive-key and keyed modes), signatures Ed25519
//! (`ed25519-dalek`, strict verification), key agreement X25519
//! (`x25519-dalek`), authenticated encryption ChaCha20-Poly1305
//! (`chacha20poly1305`), randomness the operating system's (`rand_core`'s
//! `OsRng`), comparisons of secrets constant time (`subtle`), and threshold
//! keys, shares and signatures FROST over Ed25519 (`frost-ed25519`,
//! re-exported as [`frost`]). [`tprf`] is the threshold PRF that derives
//! keys from a FROST root over Ristretto255 (`frost-ristretto255`), its
//! partial evaluations proven with `dleq`'s DLEq proofs. The wrappers fix
//! the domain separation and the encodings the services share, and make
//! every secret zeroize on drop.
//!
//! [`seal_to`] encrypts a value to the holder of one X25519 key only: a fresh
//! ephemeral key agrees a secret with the recipient's public key, BLAKE3
//! derives the AEAD key from it and both public keys, and the protocol's
//! context (ids, epochs, who sends to whom) is bound as associated data, so a
//! sealed value opens only for its recipient and only in its context.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub mod tprf;

pub use frost_ed25519 as frost;

/// A 32-byte digest, MAC, commitment or identifier.
pub type Digest = [u8; 32];

/// Why a cryptographic operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// A signature does not verify under the key.
    Signature,
    /// A MAC or commitment does not match.
    Mismatch,
    /// A sealed value does not open (wrong recipient, context or bytes).
    Open,
    /// A key, share or signature does not decode.
    Encoding,
    /// The key agreement gave the all-zero secret (a low-order public key).
    WeakKey,
    /// A zero-knowledge proof (of a threshold PRF partial) does not verify.
    Proof,
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CryptoError::Signature => "signature does not verify",
            CryptoError::Mismatch => "value does not match",
            CryptoError::Open => "sealed value does not open",
            CryptoError::Encoding => "value does not decode",
            CryptoError::WeakKey => "public key of low order",
            CryptoError::Proof => "proof does not verify",
        })
    }
}

impl std::error::Error for CryptoError {}

/// `N` bytes from the operating system's random source.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// The operating system's random source, for the FROST functions.
pub fn rng() -> OsRng {
    OsRng
}

/// The BLAKE3 digest of `parts` under `domain`; each part is
/// length-prefixed, so `["ab", "c"]` and `["a", "bc"]` differ.
pub fn digest(domain: &str, parts: &[&[u8]]) -> Digest {
    let mut hasher = blake3::Hasher::new_derive_key(domain);
    absorb(&mut hasher, parts);
    *hasher.finalize().as_bytes()
}

fn absorb(hasher: &mut blake3::Hasher, parts: &[&[u8]]) {
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
}

/// A keyed BLAKE3 MAC of `parts` under the 32-byte key `key`.
pub fn mac(key: &[u8; 32], parts: &[&[u8]]) -> Digest {
    let mut hasher = blake3::Hasher::new_keyed(key);
    absorb(&mut hasher, parts);
    *hasher.finalize().as_bytes()
}

/// Checks `tag` against the MAC of `parts` under `key`, in constant time.
pub fn verify_mac(key: &[u8; 32], parts: &[&[u8]], tag: &Digest) -> Result<(), CryptoError> {
    ensure_eq(&mac(key, parts), tag)
}

/// `Ok` iff `a == b`, compared in constant time (for MACs, commitments, transcripts).
pub fn ensure_eq(a: &[u8], b: &[u8]) -> Result<(), CryptoError> {
    if bool::from(a.ct_eq(b)) {
        Ok(())
    } else {
        Err(CryptoError::Mismatch)
    }
}

/// A 32-byte secret (a symmetric key, a seed, key material): zeroized on
/// drop, never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh random secret.
    pub fn generate() -> Self {
        SecretKey(random())
    }

    /// The secret holding `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// A key derived with BLAKE3 from `material` for `context`: distinct
    /// contexts give independent keys.
    pub fn derive(context: &str, material: &[&[u8]]) -> Self {
        SecretKey(digest(context, material))
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Encrypts `plaintext` under `key` with ChaCha20-Poly1305; `nonce` must
/// never repeat under one key; `context` is authenticated, not encrypted.
pub fn aead_seal(
    key: &SecretKey,
    nonce: &[u8; 12],
    context: &[&[u8]],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(key.expose().into());
    let aad = digest("choreo-services/aead-context", context);
    // Encryption fails only for plaintexts beyond the cipher's limit (256 GiB).
    cipher
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap_or_default()
}

/// Opens what [`aead_seal`] sealed with the same key, nonce and context.
pub fn aead_open(
    key: &SecretKey,
    nonce: &[u8; 12],
    context: &[&[u8]],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = ChaCha20Poly1305::new(key.expose().into());
    let aad = digest("choreo-services/aead-context", context);
    cipher
        .decrypt(
            nonce.into(),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Open)
}

/// Encrypts `plaintext` under the shared key `key` (ChaCha20-Poly1305, a
/// fresh random nonce prepended), authenticating `context`.
pub fn seal_with(key: &[u8; 32], context: &[&[u8]], plaintext: &[u8]) -> Vec<u8> {
    let nonce = random::<12>();
    let key = SecretKey::from_bytes(*key);
    let mut out = nonce.to_vec();
    out.extend(aead_seal(&key, &nonce, context, plaintext));
    out
}

/// Opens what [`seal_with`] sealed under `key` with the same `context`.
pub fn open_with(
    key: &[u8; 32],
    context: &[&[u8]],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (nonce, body) = sealed.split_at_checked(12).ok_or(CryptoError::Open)?;
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Open)?;
    aead_open(&SecretKey::from_bytes(*key), &nonce, context, body)
}

/// An Ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
}

impl Signature {
    /// The signature of the 64 bytes `R || s`.
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        let (mut r, mut s) = ([0; 32], [0; 32]);
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Signature { r, s }
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VerifyingKey(pub [u8; 32]);

/// An Ed25519 signing key (zeroized on drop).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.verifying_key())
    }
}

/// The message an Ed25519 key signs for `parts` under `domain`.
fn signed_message(domain: &str, parts: &[&[u8]]) -> Digest {
    digest(domain, parts)
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let seed = Zeroizing::new(random::<32>());
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The key whose seed is `seed` (for keys a node loads from its storage,
    /// or derives for a demo: whoever knows the seed can sign).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Its public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `parts` under `domain`.
    pub fn sign(&self, domain: &str, parts: &[&[u8]]) -> Signature {
        use ed25519_dalek::Signer;
        let sig = self.0.sign(&signed_message(domain, parts));
        Signature {
            r: *sig.r_bytes(),
            s: *sig.s_bytes(),
        }
    }
}

impl VerifyingKey {
    /// Checks `signature` over `parts` under `domain` (strict: no malleable
    /// or small-order signatures).
    pub fn verify(
        &self,
        domain: &str,
        parts: &[&[u8]],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::Encoding)?;
        let sig = ed25519_dalek::Signature::from_components(signature.r, signature.s);
        key.verify_strict(&signed_message(domain, parts), &sig)
            .map_err(|_| CryptoError::Signature)
    }
}

/// An X25519 public key things are sealed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SealPublic(pub [u8; 32]);

/// An X25519 secret key that opens what was sealed to its public key
/// (zeroized on drop).
#[derive(Clone)]
pub struct SealKey(x25519_dalek::StaticSecret);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({:?})", self.public())
    }
}

/// A value sealed to one recipient: the sender's ephemeral public key and
/// the ciphertext (with its tag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The ephemeral X25519 public key of this sealing.
    pub ephemeral: [u8; 32],
    /// ChaCha20-Poly1305 ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// The AEAD key of one sealing, from the agreed secret and both public keys.
fn seal_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> SecretKey {
    SecretKey::derive(
        "choreo-services/seal-to/v1",
        &[shared, ephemeral, recipient],
    )
}

/// The nonce of a sealing: each sealing has its own key, so a fixed nonce
/// never repeats under a key.
const SEAL_NONCE: [u8; 12] = [0; 12];

/// Seals `plaintext` so that only the holder of `recipient`'s secret key
/// opens it, and only with the same `context`.
pub fn seal_to(
    recipient: &SealPublic,
    context: &[&[u8]],
    plaintext: &[u8],
) -> Result<Sealed, CryptoError> {
    let ephemeral = x25519_dalek::EphemeralSecret::random_from_rng(OsRng);
    let ephemeral_public = x25519_dalek::PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&x25519_dalek::PublicKey::from(recipient.0));
    if !shared.was_contributory() {
        return Err(CryptoError::WeakKey);
    }
    let key = seal_key(shared.as_bytes(), &ephemeral_public, &recipient.0);
    Ok(Sealed {
        ephemeral: ephemeral_public,
        ciphertext: aead_seal(&key, &SEAL_NONCE, context, plaintext),
    })
}

impl SealKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        SealKey(x25519_dalek::StaticSecret::random_from_rng(OsRng))
    }

    /// Its public key.
    pub fn public(&self) -> SealPublic {
        SealPublic(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// Opens `sealed`, sealed to this key's public key with `context`.
    pub fn open(
        &self,
        context: &[&[u8]],
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(sealed.ephemeral));
        if !shared.was_contributory() {
            return Err(CryptoError::WeakKey);
        }
        let key = seal_key(shared.as_bytes(), &sealed.ephemeral, &self.public().0);
        aead_open(&key, &SEAL_NONCE, context, &sealed.ciphertext)
    }
}

/// The 32 bytes of a FROST (Ed25519) verifying key.
pub fn group_key_bytes(key: &frost::VerifyingKey) -> Result<[u8; 32], CryptoError> {
    key.serialize()
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or(CryptoError::Encoding)
}

/// The canonical bytes of `value` (postcard), as signed and hashed.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // postcard fails only on types serde cannot express (maps with unknown
    // length); the services' payloads are plain structs.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// The encoding of a FROST secret share, zeroized when dropped (what is
/// sealed to a share's holder).
pub fn share_bytes(share: &frost::keys::SecretShare) -> Result<Zeroizing<Vec<u8>>, frost::Error> {
    share.serialize().map(Zeroizing::new)
}

/// The FROST identifier of family member `index` (identifiers start at 1),
/// in any ciphersuite (Ed25519 for signing, Ristretto255 for [`tprf`]).
pub fn identifier<C: frost_core::Ciphersuite>(
    index: u16,
) -> Result<frost_core::Identifier<C>, CryptoError> {
    index
        .checked_add(1)
        .and_then(|i| frost_core::Identifier::try_from(i).ok())
        .ok_or(CryptoError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_separate_domains_and_parts() {
        assert_ne!(digest("a", &[b"x"]), digest("b", &[b"x"]));
        assert_ne!(digest("a", &[b"ab", b"c"]), digest("a", &[b"a", b"bc"]));
        assert_eq!(digest("a", &[b"x"]), digest("a", &[b"x"]));
    }

    #[test]
    fn macs_verify_only_under_their_key_and_parts() {
        let (key, other) = (random::<32>(), random::<32>());
        let tag = mac(&key, &[b"m"]);
        assert_eq!(verify_mac(&key, &[b"m"], &tag), Ok(()));
        assert_eq!(
            verify_mac(&other, &[b"m"], &tag),
            Err(CryptoError::Mismatch)
        );
        assert_eq!(verify_mac(&key, &[b"n"], &tag), Err(CryptoError::Mismatch));
    }

    #[test]
    fn signatures_verify_only_for_their_key_domain_and_message() {
        let key = SigningKey::generate();
        let public = key.verifying_key();
        let sig = key.sign("d", &[b"m"]);
        assert_eq!(public.verify("d", &[b"m"], &sig), Ok(()));
        assert_eq!(
            public.verify("e", &[b"m"], &sig),
            Err(CryptoError::Signature)
        );
        assert_eq!(
            public.verify("d", &[b"n"], &sig),
            Err(CryptoError::Signature)
        );
        let stranger = SigningKey::generate().verifying_key();
        assert_eq!(
            stranger.verify("d", &[b"m"], &sig),
            Err(CryptoError::Signature)
        );
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_recipient_and_context() {
        let (bob, eve) = (SealKey::generate(), SealKey::generate());
        let text = b"a share that is longer than one block of the cipher, 64 bytes or more";
        let sealed = seal_to(&bob.public(), &[b"ctx"], text).expect("a good key");
        assert_ne!(sealed.ciphertext.as_slice(), text.as_slice());
        assert_eq!(
            bob.open(&[b"ctx"], &sealed).expect("opens").as_slice(),
            text
        );
        assert_eq!(eve.open(&[b"ctx"], &sealed), Err(CryptoError::Open));
        assert_eq!(bob.open(&[b"other"], &sealed), Err(CryptoError::Open));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(bob.open(&[b"ctx"], &tampered), Err(CryptoError::Open));
        // Two sealings of one value differ (fresh ephemeral keys).
        assert_ne!(
            seal_to(&bob.public(), &[b"ctx"], text).expect("seals"),
            sealed
        );
    }

    #[test]
    fn a_shared_key_seal_opens_only_under_its_key_and_context() {
        let (key, other) = (random::<32>(), random::<32>());
        let sealed = seal_with(&key, &[b"c"], b"hello");
        assert_eq!(
            open_with(&key, &[b"c"], &sealed).expect("opens").as_slice(),
            b"hello"
        );
        assert_eq!(open_with(&other, &[b"c"], &sealed), Err(CryptoError::Open));
        assert_eq!(open_with(&key, &[b"d"], &sealed), Err(CryptoError::Open));
        assert_eq!(
            open_with(&key, &[b"c"], &sealed[..11]),
            Err(CryptoError::Open)
        );
    }

    #[test]
    fn a_low_order_public_key_is_refused() {
        assert_eq!(
            seal_to(&SealPublic([0; 32]), &[], b"x"),
            Err(CryptoError::WeakKey)
        );
        let bob = SealKey::generate();
        let sealed = Sealed {
            ephemeral: [0; 32],
            ciphertext: vec![0; 32],
        };
        assert_eq!(bob.open(&[], &sealed), Err(CryptoError::WeakKey));
    }

    #[test]
    fn identifiers_start_at_one() {
        assert_eq!(
            identifier(0),
            frost::Identifier::try_from(1).map_err(|_| CryptoError::Encoding)
        );
        assert_eq!(
            identifier::<frost::Ed25519Sha512>(u16::MAX),
            Err(CryptoError::Encoding)
        );
    }
}

/// A fresh X25519 key for one key agreement ([`EphemeralKey::agree`] uses
/// it up): zeroized on drop, its secret never printed.
pub struct EphemeralKey(x25519_dalek::EphemeralSecret);

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EphemeralKey({:?})", self.public())
    }
}

impl EphemeralKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        EphemeralKey(x25519_dalek::EphemeralSecret::random_from_rng(OsRng))
    }

    /// Its public key, the one the other side agrees with.
    pub fn public(&self) -> SealPublic {
        SealPublic(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// The key agreed with the holder of `theirs`: BLAKE3 under `domain` of
    /// the X25519 secret, both public keys (in byte order, so both sides
    /// derive the same key) and `context`. A low-order `theirs` (a secret
    /// the other side does not contribute to) is refused.
    pub fn agree(
        self,
        theirs: &SealPublic,
        domain: &str,
        context: &[&[u8]],
    ) -> Result<SecretKey, CryptoError> {
        let mut keys = [self.public().0, theirs.0];
        keys.sort();
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(theirs.0));
        if !shared.was_contributory() {
            return Err(CryptoError::WeakKey);
        }
        let mut parts: Vec<&[u8]> = vec![shared.as_bytes(), &keys[0], &keys[1]];
        parts.extend_from_slice(context);
        Ok(SecretKey::derive(domain, &parts))
    }
}

#[cfg(test)]
mod ephemeral_tests {
    use super::*;

    #[test]
    fn both_sides_agree_one_key_that_no_third_key_agrees() {
        let (a, b, eve) = (
            EphemeralKey::generate(),
            EphemeralKey::generate(),
            EphemeralKey::generate(),
        );
        let (pa, pb) = (a.public(), b.public());
        assert_eq!(format!("{a:?}"), format!("EphemeralKey({pa:?})"));
        let eve_key = eve.agree(&pb, "d", &[b"c"]).expect("a good key");
        let ka = a.agree(&pb, "d", &[b"c"]).expect("a good key");
        assert_eq!(b.agree(&pa, "d", &[b"c"]), Ok(ka.clone()));
        assert_ne!(eve_key, ka, "a third key agrees another secret");
    }

    #[test]
    fn a_low_order_public_key_is_refused_in_an_agreement() {
        let a = EphemeralKey::generate();
        assert_eq!(
            a.agree(&SealPublic([0; 32]), "d", &[]),
            Err(CryptoError::WeakKey)
        );
    }
}
