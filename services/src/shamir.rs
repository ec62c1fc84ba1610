//! Shamir secret sharing of 32-byte secrets over GF(2^8), byte by byte.
//!
//! `threshold` shares of [`split`] give the secret back through [`combine`];
//! fewer give an unrelated value. Coefficients come from a seed, so a dealer
//! that replays a ceremony deals the same shares.

use serde::{Deserialize, Serialize};

use crate::stand_in::{digest, Digest};

/// One share: the polynomial evaluated at `index` (never 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The evaluation point, 1-based.
    pub index: u8,
    /// One evaluation per byte of the secret.
    pub bytes: [u8; 32],
}

/// Multiplication in GF(2^8) modulo the AES polynomial x^8 + x^4 + x^3 + x + 1.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        let carry = a & 0x80;
        a <<= 1;
        if carry != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    product
}

/// The multiplicative inverse (a^254); 0 for 0.
fn inv(a: u8) -> u8 {
    let (mut result, mut base, mut exp) = (1u8, a, 254u8);
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Splits `secret` into `count` shares, any `threshold` of which recover it;
/// `None` unless `1 <= threshold <= count <= 255`.
pub fn split(secret: &[u8; 32], threshold: u16, count: u16, seed: &Digest) -> Option<Vec<Share>> {
    let threshold = u8::try_from(threshold).ok().filter(|t| *t >= 1)?;
    let count = u8::try_from(count).ok().filter(|c| *c >= threshold)?;
    let mut coefficients = vec![*secret];
    for k in 1..threshold {
        coefficients.push(digest("choreo-services/shamir", &[seed, secret, &[k]]));
    }
    let shares = (1..=count)
        .map(|x| {
            let mut bytes = [0u8; 32];
            for (j, byte) in bytes.iter_mut().enumerate() {
                // Horner's rule, highest coefficient first.
                *byte = coefficients
                    .iter()
                    .rev()
                    .fold(0, |acc, c| mul(acc, x) ^ c[j]);
            }
            Share { index: x, bytes }
        })
        .collect();
    Some(shares)
}

/// The secret the polynomial through `shares` takes at 0; `None` when there
/// are no shares, or an index is 0 or repeated.
pub fn combine(shares: &[Share]) -> Option<[u8; 32]> {
    if shares.is_empty() {
        return None;
    }
    for (i, a) in shares.iter().enumerate() {
        if a.index == 0 || shares[..i].iter().any(|b| b.index == a.index) {
            return None;
        }
    }
    let mut secret = [0u8; 32];
    for (i, share) in shares.iter().enumerate() {
        // Lagrange basis at 0: prod x_j / (x_j - x_i); subtraction is XOR.
        let basis = shares
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .fold(1u8, |acc, (_, other)| {
                mul(acc, mul(other.index, inv(other.index ^ share.index)))
            });
        for (s, y) in secret.iter_mut().zip(share.bytes) {
            *s ^= mul(basis, y);
        }
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_of_shares_recovers_the_secret() {
        let secret = digest("secret", &[]);
        let shares = split(&secret, 3, 5, &digest("seed", &[])).expect("valid");
        assert_eq!(combine(&shares[..3]), Some(secret));
        assert_eq!(combine(&shares[2..]), Some(secret));
        let picked = [shares[0].clone(), shares[2].clone(), shares[4].clone()];
        assert_eq!(combine(&picked), Some(secret));
        assert_ne!(combine(&shares[..2]), Some(secret));
    }

    #[test]
    fn bad_parameters_and_shares_are_refused() {
        let s = [7u8; 32];
        assert_eq!(split(&s, 0, 3, &s), None);
        assert_eq!(split(&s, 4, 3, &s), None);
        assert_eq!(split(&s, 2, 256, &s), None);
        let shares = split(&s, 1, 1, &s).expect("valid");
        assert_eq!(combine(&shares), Some(s));
        assert_eq!(combine(&[shares[0].clone(), shares[0].clone()]), None);
        assert_eq!(combine(&[]), None);
    }
}
