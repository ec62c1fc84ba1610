//! The in-memory store: a bounded set of facts behind one lock, for tests and
//! one-shot runs. Nothing survives the process ([`Durability::Volatile`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::error::JournalError;
use super::store::{FactStore, Record, TxnBody, WriteTxn};
use super::{DataEntry, Durability, Fact};
use crate::transport::contract::NodeId;

/// The default capacity of an in-memory journal, in facts.
pub const DEFAULT_MEMORY_CAPACITY: u64 = 1 << 20;

#[derive(Default)]
struct State {
    facts: BTreeMap<(NodeId, u64), Record>,
    heads: BTreeMap<NodeId, u64>,
    kinds: BTreeMap<String, BTreeSet<(NodeId, u64)>>,
    data: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A bounded in-memory [`FactStore`].
pub struct MemoryStore {
    state: RwLock<State>,
    capacity: u64,
}

impl MemoryStore {
    /// An empty store holding at most `capacity` facts.
    pub fn new(capacity: u64) -> Self {
        MemoryStore {
            state: RwLock::new(State::default()),
            capacity,
        }
    }

    // Transaction bodies do not panic (this crate denies unwrap, expect and
    // panic), and a failed body is undone before the lock is released, so the
    // lock can only be poisoned by a panic elsewhere in a reader; the state
    // is then still consistent.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// What to put back when a transaction aborts.
enum Undo {
    Inserted(NodeId, u64, String),
    Head(NodeId, Option<u64>),
    Data(Vec<u8>, Option<Vec<u8>>),
}

struct MemTxn<'s> {
    state: &'s mut State,
    undo: Vec<Undo>,
}

impl MemTxn<'_> {
    fn roll_back(self) {
        let state = self.state;
        for undo in self.undo.into_iter().rev() {
            match undo {
                Undo::Inserted(origin, seq, kind) => {
                    let key = (origin, seq);
                    state.facts.remove(&key);
                    if let Some(set) = state.kinds.get_mut(&kind) {
                        set.remove(&key);
                        if set.is_empty() {
                            state.kinds.remove(&kind);
                        }
                    }
                }
                Undo::Head(origin, Some(head)) => {
                    state.heads.insert(origin, head);
                }
                Undo::Head(origin, None) => {
                    state.heads.remove(&origin);
                }
                Undo::Data(key, Some(value)) => {
                    state.data.insert(key, value);
                }
                Undo::Data(key, None) => {
                    state.data.remove(&key);
                }
            }
        }
    }
}

impl WriteTxn for MemTxn<'_> {
    fn record(&self, origin: &NodeId, seq: u64) -> Result<Option<Record>, JournalError> {
        Ok(self.state.facts.get(&(origin.clone(), seq)).cloned())
    }

    fn last_seq(&self, origin: &NodeId) -> Result<u64, JournalError> {
        Ok(last_seq(self.state, origin))
    }

    fn head(&self, origin: &NodeId) -> Result<u64, JournalError> {
        Ok(self.state.heads.get(origin).copied().unwrap_or(0))
    }

    fn fact_count(&self) -> Result<u64, JournalError> {
        Ok(self.state.facts.len() as u64)
    }

    fn insert(&mut self, origin: &NodeId, seq: u64, record: &Record) -> Result<(), JournalError> {
        let key = (origin.clone(), seq);
        self.state
            .kinds
            .entry(record.kind.clone())
            .or_default()
            .insert(key.clone());
        self.state.facts.insert(key, record.clone());
        self.undo
            .push(Undo::Inserted(origin.clone(), seq, record.kind.clone()));
        Ok(())
    }

    fn set_head(&mut self, origin: &NodeId, head: u64) -> Result<(), JournalError> {
        let before = self.state.heads.insert(origin.clone(), head);
        self.undo.push(Undo::Head(origin.clone(), before));
        Ok(())
    }

    fn put_data(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), JournalError> {
        let before = match value {
            Some(value) => self.state.data.insert(key.to_vec(), value.to_vec()),
            None => self.state.data.remove(key),
        };
        self.undo.push(Undo::Data(key.to_vec(), before));
        Ok(())
    }
}

fn last_seq(state: &State, origin: &NodeId) -> u64 {
    let range = (
        Bound::Included((origin.clone(), 0)),
        Bound::Included((origin.clone(), u64::MAX)),
    );
    state
        .facts
        .range(range)
        .next_back()
        .map_or(0, |((_, seq), _)| *seq)
}

impl FactStore for MemoryStore {
    fn durability(&self) -> Durability {
        Durability::Volatile
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn capacity(&self) -> Option<u64> {
        Some(self.capacity)
    }

    fn write(&self, body: &mut TxnBody<'_>) -> Result<(), JournalError> {
        let mut guard = self.write_lock();
        let mut txn = MemTxn {
            state: &mut guard,
            undo: Vec::new(),
        };
        let result = body(&mut txn);
        if result.is_err() {
            txn.roll_back();
        }
        result
    }

    fn fact(&self, origin: &NodeId, seq: u64) -> Result<Option<Fact>, JournalError> {
        let state = self.read();
        let record = state.facts.get(&(origin.clone(), seq)).cloned();
        Ok(record.map(|r| r.into_fact(origin.clone(), seq)))
    }

    fn since(&self, origin: &NodeId, after: u64, limit: usize) -> Result<Vec<Fact>, JournalError> {
        let state = self.read();
        let range = (
            Bound::Excluded((origin.clone(), after)),
            Bound::Included((origin.clone(), u64::MAX)),
        );
        Ok(state
            .facts
            .range(range)
            .take(limit)
            .map(|((o, s), r)| r.clone().into_fact(o.clone(), *s))
            .collect())
    }

    fn head(&self, origin: &NodeId) -> Result<u64, JournalError> {
        Ok(self.read().heads.get(origin).copied().unwrap_or(0))
    }

    fn heads(&self) -> Result<Vec<(NodeId, u64)>, JournalError> {
        let state = self.read();
        Ok(state.heads.iter().map(|(o, h)| (o.clone(), *h)).collect())
    }

    fn fact_count(&self) -> Result<u64, JournalError> {
        Ok(self.read().facts.len() as u64)
    }

    fn count_kind(&self, kind: &str) -> Result<u64, JournalError> {
        Ok(self.read().kinds.get(kind).map_or(0, |s| s.len() as u64))
    }

    fn by_kind(
        &self,
        kind: &str,
        after: Option<(&NodeId, u64)>,
        limit: usize,
    ) -> Result<Vec<Fact>, JournalError> {
        let state = self.read();
        let Some(keys) = state.kinds.get(kind) else {
            return Ok(Vec::new());
        };
        let start = match after {
            Some((origin, seq)) => Bound::Excluded((origin.clone(), seq)),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for key in keys.range((start, Bound::Unbounded)).take(limit) {
            if let Some(record) = state.facts.get(key) {
                out.push(record.clone().into_fact(key.0.clone(), key.1));
            }
        }
        Ok(out)
    }

    fn data(&self, key: &[u8]) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(self.read().data.get(key).cloned())
    }

    fn data_with_prefix(&self, prefix: &[u8]) -> Result<Vec<DataEntry>, JournalError> {
        let state = self.read();
        Ok(state
            .data
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
