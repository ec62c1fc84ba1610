//! A node's journal of facts: what its sends recorded (`journal_facts`) and
//! what peers shipped it (`journal_merge`). In memory, bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::transport::{NodeId, SessionId};

/// One fact: who recorded it, its position among that origin's facts, the
/// session that produced it, and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The node that recorded it.
    pub origin: NodeId,
    /// Position among `origin`'s facts, from 1, contiguous.
    pub seq: u64,
    /// The session whose send recorded it.
    pub session: SessionId,
    /// The fact key (`InvitationFact::Sent`).
    pub kind: String,
    /// Encoded data, possibly empty.
    pub body: Vec<u8>,
}

/// A fact to append, originating at the journal's own node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFact {
    /// The session producing it.
    pub session: SessionId,
    /// The fact key.
    pub kind: String,
    /// Encoded data.
    pub body: Vec<u8>,
}

/// When an append's facts are safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// In memory: gone with the process.
    Volatile,
    /// On disk and synced before `append` returns.
    Immediate,
}

/// Why a journal operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The in-memory journal holds its maximum number of facts.
    #[error("journal full: {capacity} facts")]
    Full {
        /// The capacity.
        capacity: usize,
    },
    /// The same origin and sequence number arrived with different content.
    #[error("conflicting fact {origin}#{seq}")]
    Equivocation {
        /// The origin.
        origin: NodeId,
        /// The sequence number.
        seq: u64,
    },
}

/// How many facts an in-memory journal holds unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// A cloneable handle to one node's journal.
#[derive(Clone, Debug)]
pub struct Journal {
    origin: NodeId,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    facts: BTreeMap<(NodeId, u64), Fact>,
    heads: BTreeMap<NodeId, u64>,
    capacity: usize,
}

impl Journal {
    /// An empty in-memory journal of the node `origin`.
    pub fn in_memory(origin: NodeId) -> Journal {
        Journal::with_capacity(origin, DEFAULT_CAPACITY)
    }

    /// An empty in-memory journal holding at most `capacity` facts.
    pub fn with_capacity(origin: NodeId, capacity: usize) -> Journal {
        let inner = Inner {
            facts: BTreeMap::new(),
            heads: BTreeMap::new(),
            capacity,
        };
        Journal {
            origin,
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The node whose journal this is.
    pub fn origin(&self) -> &NodeId {
        &self.origin
    }

    /// When appended facts are safe.
    pub fn durability(&self) -> Durability {
        Durability::Volatile
    }

    /// Appends `facts` as one group (all or none); returns their sequence numbers.
    pub async fn append(&self, facts: Vec<NewFact>) -> Result<Vec<u64>, JournalError> {
        let mut inner = self.lock();
        if inner.facts.len() + facts.len() > inner.capacity {
            return Err(JournalError::Full {
                capacity: inner.capacity,
            });
        }
        let mut head = inner.heads.get(&self.origin).copied().unwrap_or(0);
        let mut seqs = Vec::with_capacity(facts.len());
        for fact in facts {
            head += 1;
            let fact = Fact {
                origin: self.origin.clone(),
                seq: head,
                session: fact.session,
                kind: fact.kind,
                body: fact.body,
            };
            inner.facts.insert((self.origin.clone(), head), fact);
            seqs.push(head);
        }
        inner.heads.insert(self.origin.clone(), head);
        Ok(seqs)
    }

    /// Merges facts shipped by peers; idempotent and order-independent.
    /// Returns how many were new.
    pub async fn merge(&self, facts: Vec<Fact>) -> Result<usize, JournalError> {
        let mut inner = self.lock();
        for fact in &facts {
            if let Some(known) = inner.facts.get(&(fact.origin.clone(), fact.seq)) {
                if known != fact {
                    return Err(JournalError::Equivocation {
                        origin: fact.origin.clone(),
                        seq: fact.seq,
                    });
                }
            }
        }
        let before = inner.facts.len();
        for fact in facts {
            let head = inner.heads.entry(fact.origin.clone()).or_insert(0);
            *head = (*head).max(fact.seq);
            inner
                .facts
                .entry((fact.origin.clone(), fact.seq))
                .or_insert(fact);
        }
        Ok(inner.facts.len() - before)
    }

    /// Facts of `origin` with a sequence number above `after`, at most `limit`.
    pub fn since(&self, origin: &NodeId, after: u64, limit: usize) -> Vec<Fact> {
        let inner = self.lock();
        let from = (origin.clone(), after.saturating_add(1));
        let to = (origin.clone(), u64::MAX);
        inner
            .facts
            .range(from..=to)
            .take(limit)
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// The highest sequence number of `origin` (0 if none).
    pub fn head(&self, origin: &NodeId) -> u64 {
        self.lock().heads.get(origin).copied().unwrap_or(0)
    }

    /// Every fact, ordered by origin and then sequence number.
    pub fn facts(&self) -> Vec<Fact> {
        self.lock().facts.values().cloned().collect()
    }

    /// How many facts there are.
    pub fn len(&self) -> usize {
        self.lock().facts.len()
    }

    /// Whether there are no facts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many facts of kind `kind` there are, from any origin.
    pub fn count(&self, kind: &str) -> usize {
        self.lock()
            .facts
            .values()
            .filter(|f| f.kind == kind)
            .count()
    }
}
