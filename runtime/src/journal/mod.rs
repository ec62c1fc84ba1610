//! The fact journal: a node's grow-only set of facts, each keyed by its
//! origin node and a per-origin sequence number, in memory or on disk.
//!
//! - [`Journal::append`] records facts of this node as one atomic group and
//!   returns their seqs once they are durable per [`Journal::durability`]:
//!   [`Durability::Immediate`] (the redb file, fsync'd before `append`
//!   returns) or [`Durability::Volatile`] (memory).
//! - [`Journal::merge`] adds facts shipped by peers; it is idempotent and
//!   order-independent, and refuses a batch that contradicts a known fact
//!   ([`JournalError::Equivocation`]).
//! - [`Journal::since`] and [`Journal::head`] say what to ship to a peer.
//!
//! On top: [`CeremonyTracker`] (ceremony supersession) and
//! [`MigrationCoordinator`] (data migrations committed with their facts).
//! `docs/journal.md` states the guarantees: what is durable when, and what a
//! crash can and cannot lose.
//!
//! # Example
//!
//! ```
//! use choreo_runtime::journal::{Journal, NewFact, NO_SESSION};
//! use choreo_runtime::transport::contract::NodeId;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let alice = Journal::open(&dir.path().join("alice.journal"), NodeId::new("alice"))?;
//! let bob = Journal::in_memory(NodeId::new("bob"));
//! let hello = NewFact::new(NO_SESSION, "Demo::Hello", b"hi".to_vec());
//! assert_eq!(alice.append(vec![hello]).await?, [1]); // on disk now
//!
//! // Ship bob what he has not seen of alice's facts; merging twice is harmless.
//! let missing = alice.since(alice.origin(), bob.head(alice.origin())?, 100)?;
//! assert_eq!(bob.merge(missing.clone()).await?, 1);
//! assert_eq!(bob.merge(missing).await?, 0);
//! assert_eq!(bob.count("Demo::Hello")?, 1);
//! # Ok(())
//! # }
//! ```

mod apply;
pub mod ceremony;
pub mod disk;
pub mod error;
pub mod memory;
pub mod migration;
pub mod store;
mod writer;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use self::apply::{Outcome, Request};
use self::writer::{Committer, Writer};
use crate::transport::contract::{NodeId, SessionId};

pub use self::ceremony::{CeremonyError, CeremonyId, CeremonyTracker, PrestateHash, Supersession};
pub use self::disk::RedbStore;
pub use self::error::JournalError;
pub use self::memory::{MemoryStore, DEFAULT_MEMORY_CAPACITY};
pub use self::migration::{Migration, MigrationContext, MigrationCoordinator, MigrationError};
pub use self::store::{FactStore, Record, WriteTxn};
pub use self::writer::MAX_GROUP;

/// The longest fact kind, in bytes.
pub const MAX_KIND: usize = 256;
/// The largest fact body (and data value), in bytes.
pub const MAX_BODY: usize = 1 << 20;
/// The longest data key, in bytes.
pub const MAX_DATA_KEY: usize = 1024;
/// The session of facts no session produced (ceremony bookkeeping, migrations).
pub const NO_SESSION: SessionId = SessionId([0; 16]);

/// A data table entry: key and value.
pub type DataEntry = (Vec<u8>, Vec<u8>);

/// When an appended fact is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Held in memory: visible once `append` returns, lost with the process.
    Volatile,
    /// On disk and fsync'd before `append` returns: survives a crash of the
    /// process or the machine.
    Immediate,
}

/// One fact: who recorded it, its position among that origin's facts, the
/// session that produced it, what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireFact", into = "WireFact")]
pub struct Fact {
    /// The node that recorded the fact.
    pub origin: NodeId,
    /// Its position among `origin`'s facts: from 1, contiguous per origin.
    pub seq: u64,
    /// The session that produced it.
    pub session: SessionId,
    /// What it says, e.g. `CeremonyFact::Committed`.
    pub kind: String,
    /// Encoded data, possibly empty.
    pub body: Vec<u8>,
}

/// [`Fact`] as serialised (the origin by name).
#[derive(Serialize, Deserialize)]
struct WireFact {
    origin: String,
    seq: u64,
    session: SessionId,
    kind: String,
    body: Vec<u8>,
}

impl From<WireFact> for Fact {
    fn from(w: WireFact) -> Fact {
        Fact {
            origin: NodeId::new(w.origin),
            seq: w.seq,
            session: w.session,
            kind: w.kind,
            body: w.body,
        }
    }
}

impl From<Fact> for WireFact {
    fn from(f: Fact) -> WireFact {
        WireFact {
            origin: f.origin.as_str().to_owned(),
            seq: f.seq,
            session: f.session,
            kind: f.kind,
            body: f.body,
        }
    }
}

/// A fact to append, originating at this journal's own node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFact {
    /// The session that produces it.
    pub session: SessionId,
    /// What it says.
    pub kind: String,
    /// Encoded data, possibly empty.
    pub body: Vec<u8>,
}

impl NewFact {
    /// The fact `kind` with `body`, produced by `session`.
    pub fn new(session: SessionId, kind: impl Into<String>, body: Vec<u8>) -> Self {
        NewFact {
            session,
            kind: kind.into(),
            body,
        }
    }
}

/// A change of the journal's data table, committed atomically with facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataWrite {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

/// A cloneable handle to one node's journal, over any [`FactStore`].
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    origin: NodeId,
    store: Arc<dyn FactStore>,
    committer: Arc<Committer>,
    // Declared last: dropped (and joined) after nothing else needs it.
    writer: Option<Writer>,
}

impl Journal {
    /// An in-memory journal holding at most [`DEFAULT_MEMORY_CAPACITY`] facts.
    pub fn in_memory(origin: NodeId) -> Journal {
        Journal::in_memory_with_capacity(origin, DEFAULT_MEMORY_CAPACITY)
    }

    /// An in-memory journal holding at most `capacity` facts; appends and
    /// merges beyond it fail with [`JournalError::Full`].
    pub fn in_memory_with_capacity(origin: NodeId, capacity: u64) -> Journal {
        let store: Arc<dyn FactStore> = Arc::new(MemoryStore::new(capacity));
        Journal::assemble(origin, store, None)
    }

    /// Opens (or creates) the journal file at `path` for node `origin`.
    pub fn open(path: &Path, origin: NodeId) -> Result<Journal, JournalError> {
        let store: Arc<dyn FactStore> = Arc::new(RedbStore::open(path, &origin)?);
        Journal::from_store(origin, store)
    }

    /// A journal over `store`: writes go through a group-committing writer
    /// thread when the store is durable (its writes block on the disk), and
    /// inline when it is volatile.
    pub fn from_store(origin: NodeId, store: Arc<dyn FactStore>) -> Result<Journal, JournalError> {
        if store.durability() == Durability::Volatile {
            return Ok(Journal::assemble(origin, store, None));
        }
        let committer = Arc::new(Committer::new(store.clone(), origin.clone()));
        let writer =
            Writer::spawn(committer.clone(), format!("journal-{origin}")).map_err(|e| {
                JournalError::Io {
                    path: store.describe().into(),
                    reason: format!("cannot start the writer thread: {e}"),
                }
            })?;
        Ok(Journal {
            inner: Arc::new(Inner {
                origin,
                store,
                committer,
                writer: Some(writer),
            }),
        })
    }

    fn assemble(origin: NodeId, store: Arc<dyn FactStore>, writer: Option<Writer>) -> Journal {
        let committer = Arc::new(Committer::new(store.clone(), origin.clone()));
        Journal {
            inner: Arc::new(Inner {
                origin,
                store,
                committer,
                writer,
            }),
        }
    }

    /// This journal's node: the origin of every fact it appends.
    pub fn origin(&self) -> &NodeId {
        &self.inner.origin
    }

    /// When appended facts are durable.
    pub fn durability(&self) -> Durability {
        self.inner.store.durability()
    }

    /// The store, for messages: its file, or `memory`.
    pub fn describe(&self) -> String {
        self.inner.store.describe()
    }

    /// Appends `facts` as one atomic group (all or none) and returns their
    /// seqs once durable per [`Journal::durability`]. An error means none of
    /// them was recorded, except [`JournalError::Io`] from a failed commit,
    /// whose outcome reopening shows (the journal refuses writes until then).
    ///
    /// Dropping the future before it completes leaves the outcome unknown: the
    /// facts are skipped if their commit had not started, recorded otherwise.
    pub async fn append(&self, facts: Vec<NewFact>) -> Result<Vec<u64>, JournalError> {
        self.commit(facts, Vec::new()).await
    }

    /// Appends `facts` and applies `writes` to the data table in the same
    /// atomic group; returns the facts' seqs once durable.
    pub async fn commit(
        &self,
        facts: Vec<NewFact>,
        writes: Vec<DataWrite>,
    ) -> Result<Vec<u64>, JournalError> {
        let outcome = self.submit(Request::Append { facts, writes }).await?;
        Ok(outcome.seqs)
    }

    /// Merges facts received from peers: idempotent and order-independent.
    /// The same `(origin, seq)` with different content is an
    /// [`JournalError::Equivocation`] and nothing of the batch is merged; a
    /// fact in this node's name that it never recorded is
    /// [`JournalError::ForgedOwnFact`]. Returns how many facts were new.
    pub async fn merge(&self, facts: Vec<Fact>) -> Result<usize, JournalError> {
        let outcome = self.submit(Request::Merge { facts }).await?;
        Ok(outcome.merged)
    }

    async fn submit(&self, request: Request) -> Result<Outcome, JournalError> {
        match &self.inner.writer {
            Some(writer) => writer.submit(request).await,
            None => {
                let mut results = self.inner.committer.commit(&[&request]);
                results.pop().unwrap_or(Err(JournalError::Closed))
            }
        }
    }

    /// Facts of `origin` with seq > `after`, at most `limit`, in seq order.
    /// Ship `since(origin, peer_head, limit)` to a peer whose head is `peer_head`.
    pub fn since(
        &self,
        origin: &NodeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Fact>, JournalError> {
        self.inner.store.since(origin, after, limit)
    }

    /// The highest seq `n` such that facts 1..=n of `origin` are all here (0
    /// if none). For this node's own facts that is the last appended seq;
    /// for a peer's, merged facts after a gap count once the gap is filled.
    pub fn head(&self, origin: &NodeId) -> Result<u64, JournalError> {
        self.inner.store.head(origin)
    }

    /// Every origin with facts here, with its head, in origin order.
    pub fn heads(&self) -> Result<Vec<(NodeId, u64)>, JournalError> {
        self.inner.store.heads()
    }

    /// The fact `(origin, seq)`, if present.
    pub fn fact(&self, origin: &NodeId, seq: u64) -> Result<Option<Fact>, JournalError> {
        self.inner.store.fact(origin, seq)
    }

    /// The number of facts, from every origin.
    pub fn len(&self) -> Result<u64, JournalError> {
        self.inner.store.fact_count()
    }

    /// Whether there are no facts.
    pub fn is_empty(&self) -> Result<bool, JournalError> {
        Ok(self.len()? == 0)
    }

    /// How many facts of `kind` there are, from every origin.
    pub fn count(&self, kind: &str) -> Result<u64, JournalError> {
        self.inner.store.count_kind(kind)
    }

    /// Every fact of `kind`, ordered by origin and seq.
    pub fn by_kind(&self, kind: &str) -> Result<Vec<Fact>, JournalError> {
        self.inner.store.by_kind(kind, None, usize::MAX)
    }

    /// Facts of `kind` after `after` (exclusive, in `(origin, seq)` order), at
    /// most `limit`: pages through [`Journal::by_kind`].
    pub fn by_kind_after(
        &self,
        kind: &str,
        after: Option<(&NodeId, u64)>,
        limit: usize,
    ) -> Result<Vec<Fact>, JournalError> {
        self.inner.store.by_kind(kind, after, limit)
    }

    /// The data value under `key`.
    pub fn data(&self, key: &[u8]) -> Result<Option<Vec<u8>>, JournalError> {
        self.inner.store.data(key)
    }

    /// Every data entry whose key starts with `prefix`, in key order.
    pub fn data_with_prefix(&self, prefix: &[u8]) -> Result<Vec<DataEntry>, JournalError> {
        self.inner.store.data_with_prefix(prefix)
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("origin", &self.inner.origin)
            .field("store", &self.inner.store.describe())
            .finish()
    }
}
