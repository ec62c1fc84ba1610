//! Why a journal operation failed.

use std::path::PathBuf;

use crate::transport::contract::NodeId;

/// Why a journal operation failed. Nothing a peer ships and no file content
/// makes the journal panic: every failure is one of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The journal file is damaged (truncated, garbage appended, a checksum
    /// failed, a stored fact does not decode). Nothing was changed in it.
    #[error("journal file {path}: corrupted: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The file is a database but not a journal of this format.
    #[error("journal file {path}: not a journal: {reason}")]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// What is missing or different.
        reason: String,
    },
    /// The file is the journal of another node.
    #[error("journal file {path} belongs to node {found}, not {expected}")]
    OriginMismatch {
        /// The file.
        path: PathBuf,
        /// The node that asked to open it.
        expected: NodeId,
        /// The node recorded in the file.
        found: NodeId,
    },
    /// Another handle (in this or another process) has the file open.
    #[error("journal file {path} is already open")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing the file failed.
    #[error("journal file {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's or the store's message.
        reason: String,
    },
    /// An earlier commit failed in a way that leaves its outcome unknown
    /// (e.g. fsync failed); the journal refuses every write until reopened,
    /// which shows whether that commit landed.
    #[error("journal {store} refuses writes after a failed commit: {cause}")]
    Poisoned {
        /// The store (a path, or `memory`).
        store: String,
        /// The failure.
        cause: String,
    },
    /// An in-memory journal holds its maximum number of facts.
    #[error("journal full: {capacity} facts")]
    Full {
        /// The capacity, in facts.
        capacity: u64,
    },
    /// The same `(origin, seq)` arrived with content different from the fact
    /// already known (or twice in one batch with different content).
    #[error("equivocation: fact {seq} of {origin} arrived with different content")]
    Equivocation {
        /// The origin.
        origin: NodeId,
        /// The sequence number.
        seq: u64,
    },
    /// A peer shipped a fact in this node's name that this node never recorded.
    #[error("fact {seq} of {origin} claims this node's origin but was never recorded here")]
    ForgedOwnFact {
        /// This node.
        origin: NodeId,
        /// The sequence number.
        seq: u64,
    },
    /// A fact is malformed (seq 0, empty or oversized kind, oversized body).
    #[error("invalid fact {seq} of {origin}: {reason}")]
    InvalidFact {
        /// The origin.
        origin: NodeId,
        /// The sequence number (0 for a fact not yet numbered).
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// A data write is malformed (empty or oversized key, oversized value).
    #[error("invalid data write: {reason}")]
    InvalidData {
        /// What is wrong.
        reason: String,
    },
    /// The journal's writer has stopped (the process is shutting down).
    #[error("journal closed")]
    Closed,
}
