//! The storage trait under a [`Journal`](super::Journal): a store of facts
//! keyed by `(origin, seq)`, with the per-origin head, a by-kind index and a
//! small key-value data table, written only through atomic transactions.
//!
//! Stores are synchronous; the journal calls [`FactStore::write`] from a
//! writer thread when the store's writes block on the disk
//! ([`Durability::Immediate`]) and inline when they do not.

use serde::{Deserialize, Serialize};

use super::error::JournalError;
use super::{DataEntry, Durability, Fact};
use crate::transport::contract::{NodeId, SessionId};

/// A fact as stored under its `(origin, seq)` key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The session that produced the fact.
    pub session: SessionId,
    /// What the fact says (`CeremonyFact::Committed`).
    pub kind: String,
    /// Encoded data, possibly empty.
    pub body: Vec<u8>,
}

impl Record {
    /// The fact this record is, under its key.
    pub fn into_fact(self, origin: NodeId, seq: u64) -> Fact {
        Fact {
            origin,
            seq,
            session: self.session,
            kind: self.kind,
            body: self.body,
        }
    }
}

/// The body of one write transaction: validates and stages writes through the
/// [`WriteTxn`]. Returning `Err` aborts the transaction: nothing it staged is
/// kept.
pub type TxnBody<'a> = dyn FnMut(&mut dyn WriteTxn) -> Result<(), JournalError> + 'a;

/// A store of facts. Every change goes through [`FactStore::write`], which is
/// atomic: after a crash either all of a transaction's writes are there or
/// none. Reads see only committed transactions.
pub trait FactStore: Send + Sync + 'static {
    /// When a committed transaction is durable.
    fn durability(&self) -> Durability;

    /// What the store is, for messages: its file, or `memory`.
    fn describe(&self) -> String;

    /// The most facts the store holds, if it is bounded.
    fn capacity(&self) -> Option<u64>;

    /// Runs `body` in one write transaction and commits it (durably, per
    /// [`FactStore::durability`], before returning `Ok`) unless `body` fails.
    fn write(&self, body: &mut TxnBody<'_>) -> Result<(), JournalError>;

    /// The fact `(origin, seq)`, if present.
    fn fact(&self, origin: &NodeId, seq: u64) -> Result<Option<Fact>, JournalError>;

    /// Facts of `origin` with seq > `after`, at most `limit`, in seq order.
    fn since(&self, origin: &NodeId, after: u64, limit: usize) -> Result<Vec<Fact>, JournalError>;

    /// The highest `n` such that facts 1..=n of `origin` are all present.
    fn head(&self, origin: &NodeId) -> Result<u64, JournalError>;

    /// Every origin with at least one fact, with its head, in origin order.
    fn heads(&self) -> Result<Vec<(NodeId, u64)>, JournalError>;

    /// The number of facts.
    fn fact_count(&self) -> Result<u64, JournalError>;

    /// The number of facts of `kind`.
    fn count_kind(&self, kind: &str) -> Result<u64, JournalError>;

    /// Facts of `kind` ordered by `(origin, seq)`, starting after `after`
    /// (exclusive; `None` from the start), at most `limit`.
    fn by_kind(
        &self,
        kind: &str,
        after: Option<(&NodeId, u64)>,
        limit: usize,
    ) -> Result<Vec<Fact>, JournalError>;

    /// The data value under `key`.
    fn data(&self, key: &[u8]) -> Result<Option<Vec<u8>>, JournalError>;

    /// Every data entry whose key starts with `prefix`, in key order.
    fn data_with_prefix(&self, prefix: &[u8]) -> Result<Vec<DataEntry>, JournalError>;
}

/// One write transaction of a [`FactStore`]: reads see the transaction's own
/// staged writes.
pub trait WriteTxn {
    /// The record under `(origin, seq)`, if present.
    fn record(&self, origin: &NodeId, seq: u64) -> Result<Option<Record>, JournalError>;

    /// The highest seq of `origin` present (0 if none), contiguous or not.
    fn last_seq(&self, origin: &NodeId) -> Result<u64, JournalError>;

    /// The stored head of `origin` (0 if none).
    fn head(&self, origin: &NodeId) -> Result<u64, JournalError>;

    /// The number of facts.
    fn fact_count(&self) -> Result<u64, JournalError>;

    /// Stores `record` under `(origin, seq)`, which must be absent, and
    /// indexes it by kind.
    fn insert(&mut self, origin: &NodeId, seq: u64, record: &Record) -> Result<(), JournalError>;

    /// Sets the head of `origin`.
    fn set_head(&mut self, origin: &NodeId, head: u64) -> Result<(), JournalError>;

    /// Sets (`Some`) or removes (`None`) the data value under `key`.
    fn put_data(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), JournalError>;
}
