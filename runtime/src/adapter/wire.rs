//! The frame of one typed message: a postcard header (label, and the sender's
//! journal when `journal_merge` asks for a merge) followed by the postcard payload.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::guard::journal::{Journal, JournalEntry};

#[derive(Serialize)]
struct HeaderOut<'a> {
    label: &'a str,
    merge: Option<Vec<&'a JournalEntry>>,
}

/// A decoded frame header.
#[derive(Deserialize)]
pub(crate) struct Header<'a> {
    pub label: &'a str,
    pub merge: Option<Vec<JournalEntry>>,
}

/// Encodes `payload` alone.
pub(crate) fn encode_payload<M: Serialize + ?Sized>(payload: &M) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(payload).map_err(|e| e.to_string())
}

/// The header bytes for `label`, carrying `merge` if given.
pub(crate) fn encode_header(label: &str, merge: Option<&Journal>) -> Result<Vec<u8>, String> {
    let merge = merge.map(|journal| journal.entries().collect());
    postcard::to_stdvec(&HeaderOut { label, merge }).map_err(|e| e.to_string())
}

/// Splits `frame` into its header and the offset where the payload starts.
pub(crate) fn decode_header(frame: &[u8]) -> Result<(Header<'_>, usize), String> {
    let (header, rest) = postcard::take_from_bytes::<Header>(frame).map_err(|e| e.to_string())?;
    Ok((header, frame.len() - rest.len()))
}

/// Decodes a whole payload; bytes left over are an error too.
pub(crate) fn decode_payload<M: DeserializeOwned>(payload: &[u8]) -> Result<M, String> {
    let (value, rest) = postcard::take_from_bytes::<M>(payload).map_err(|e| e.to_string())?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(format!("{} bytes left over after the payload", rest.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::Peer;

    #[test]
    fn header_and_payload_round_trip_compactly() {
        let mut frame = encode_header("Ping", None).unwrap();
        assert_eq!(frame, [4, b'P', b'i', b'n', b'g', 0]);
        frame.extend(encode_payload(&300u32).unwrap());
        let (header, offset) = decode_header(&frame).unwrap();
        assert_eq!((header.label, header.merge), ("Ping", None));
        assert_eq!(decode_payload::<u32>(&frame[offset..]), Ok(300));
        assert!(decode_payload::<u8>(&frame[offset..]).is_err());
    }

    #[test]
    fn merge_entries_travel_in_the_header() {
        let mut journal = Journal::default();
        journal.record(&Peer::member("W", 1), "F", &Peer::role("C"));
        let frame = encode_header("Ack", Some(&journal)).unwrap();
        let (header, offset) = decode_header(&frame).unwrap();
        let entries: Vec<JournalEntry> = journal.entries().cloned().collect();
        assert_eq!(header.merge, Some(entries));
        assert_eq!(offset, frame.len());
    }
}
