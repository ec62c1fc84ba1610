//! TEMPORARY: the old deterministic stand-ins, used only by the services not
//! yet moved to [`crate::crypto`]; removed once none is left.
//!
//! The services bind payloads together (commitments, transcripts, MACs) and
//! seal key material for one recipient. This crate depends on nothing but the
//! runtime and serde, so these are small deterministic functions with the
//! right shape: a digest that changes with any change of its input, a keyed
//! MAC, and a keystream seal that only the same key opens. They are **not**
//! secure (the digest is not collision resistant, the seal is unauthenticated):
//! swap in real primitives before anything leaves an in-memory network.
//! Secret sharing, in [`crate::shamir`], is real Shamir sharing.

/// A 32-byte digest, MAC, commitment or identifier.
pub type Digest = [u8; 32];

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The splitmix64 finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over `bytes`, continuing from `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The digest of `parts` under `domain`; each part is length-prefixed, so
/// `["ab", "c"]` and `["a", "bc"]` differ.
pub fn digest(domain: &str, parts: &[&[u8]]) -> Digest {
    let mut out = [0u8; 32];
    for (lane, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut h = FNV_OFFSET ^ mix(lane as u64 + 1);
        h = fnv(h, &(domain.len() as u64).to_le_bytes());
        h = fnv(h, domain.as_bytes());
        for part in parts {
            h = fnv(h, &(part.len() as u64).to_le_bytes());
            h = fnv(h, part);
        }
        chunk.copy_from_slice(&mix(h).to_le_bytes());
    }
    out
}

/// A MAC of `parts` under `key`.
pub fn mac(key: &Digest, parts: &[&[u8]]) -> Digest {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(key);
    all.extend_from_slice(parts);
    digest("choreo-services/mac", &all)
}

/// `data` XORed with the keystream of `key` and `nonce`: seals plaintext and
/// opens what was sealed with the same key and nonce.
pub fn seal(key: &Digest, nonce: &[u8], data: &[u8]) -> Vec<u8> {
    data.chunks(32)
        .enumerate()
        .flat_map(|(block, chunk)| {
            let counter = (block as u64).to_le_bytes();
            let stream = digest("choreo-services/keystream", &[key, nonce, &counter]);
            chunk
                .iter()
                .zip(stream)
                .map(|(b, s)| b ^ s)
                .collect::<Vec<u8>>()
        })
        .collect()
}

/// Opens `sealed` (the inverse of [`seal`] with the same key and nonce).
pub fn open(key: &Digest, nonce: &[u8], sealed: &[u8]) -> Vec<u8> {
    seal(key, nonce, sealed)
}

/// The bytes of `value` as a fixed-size array, or `None` when the length differs.
pub fn array32(value: &[u8]) -> Option<[u8; 32]> {
    value.try_into().ok()
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
    fn seal_round_trips_only_with_the_same_key() {
        let (key, other) = (digest("k", &[]), digest("o", &[]));
        let text = b"a share that is longer than one keystream block of 32 bytes";
        let sealed = seal(&key, b"n", text);
        assert_ne!(sealed.as_slice(), text.as_slice());
        assert_eq!(open(&key, b"n", &sealed), text.to_vec());
        assert_ne!(open(&other, b"n", &sealed), text.to_vec());
    }
}
use serde::{Deserialize, Serialize};

/// Facts in the order they were recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal<F> {
    facts: Vec<F>,
}

impl<F> Default for Journal<F> {
    fn default() -> Self {
        Journal { facts: Vec::new() }
    }
}

impl<F> Journal<F> {
    /// An empty journal.
    pub fn new() -> Self {
        Journal::default()
    }

    /// Appends `fact`.
    pub fn record(&mut self, fact: F) {
        self.facts.push(fact);
    }

    /// The facts, oldest first.
    pub fn facts(&self) -> &[F] {
        &self.facts
    }

    /// The number of facts.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Whether no fact was recorded.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// How many facts satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&F) -> bool) -> usize {
        self.facts.iter().filter(|f| pred(f)).count()
    }
}

impl<F: PartialEq> Journal<F> {
    /// Whether `fact` was recorded.
    pub fn contains(&self, fact: &F) -> bool {
        self.facts.contains(fact)
    }
}
