//! Serde for `[u8; N]` payload fields as one byte string.
//!
//! Serde writes an array as `N` one-byte elements, and postcard reads them
//! back one call at a time; generated payloads mark their `[u8; N]` fields
//! `#[serde(with = "choreo_runtime::byte_array")]` so that an array is one
//! length and one copy instead (in postcard: a varint `N`, then the bytes).
//! Self-describing formats that write bytes as a sequence (JSON) still read.

use std::fmt;

use serde::{de, Deserializer, Serializer};

/// Writes `bytes` as one byte string.
pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

/// Reads a byte string of exactly `N` bytes (or a sequence of `N` bytes).
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    d.deserialize_bytes(Array::<N>)
}

/// The visitor of an `N`-byte array.
struct Array<const N: usize>;

impl<'de, const N: usize> de::Visitor<'de> for Array<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<[u8; N], E> {
        v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<u8>()?.is_some() {
            return Err(de::Error::invalid_length(N + 1, &self));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Receipt {
        seq: u64,
        #[serde(with = "super")]
        digest: [u8; 4],
    }

    #[test]
    fn an_array_is_one_length_and_its_bytes() {
        let r = Receipt {
            seq: 7,
            digest: [1, 2, 3, 4],
        };
        let bytes = postcard::to_allocvec(&r).unwrap();
        assert_eq!(bytes, [7, 4, 1, 2, 3, 4]);
        assert_eq!(postcard::from_bytes::<Receipt>(&bytes).unwrap(), r);
    }

    #[test]
    fn a_string_of_another_length_does_not_decode() {
        for bad in [
            &[7u8, 3, 1, 2, 3][..],
            &[7, 5, 1, 2, 3, 4, 5],
            &[7, 4, 1, 2],
        ] {
            assert!(postcard::from_bytes::<Receipt>(bad).is_err(), "{bad:?}");
        }
    }
}
