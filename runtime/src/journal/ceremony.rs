//! Ceremony supersession on top of the journal.
//!
//! A ceremony (a key rotation, a recovery, an OTA upgrade) is started on a
//! *prestate* (the digest of the state it changes) for an *op type*. Starting
//! a new ceremony of an op type supersedes every open one of that type: one
//! on the same prestate is a duplicate, one on another prestate is stale.
//! Every supersession is a `Ceremony::CeremonySuperseded` fact; a superseded
//! ceremony cannot commit.
//!
//! The tracker's state is a function of the journal's facts (its own and
//! those merged from peers), computed in one deterministic order so every
//! node holding the same facts agrees: commits first (a commit is never
//! undone), then supersessions in `(origin, seq)` order, each ignored
//! ("void") if its old ceremony committed, was already superseded, or if it
//! would close a cycle. Void supersessions only arise from concurrent
//! decisions on different nodes; [`CeremonyTracker::void_supersessions`]
//! lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, NewFact, NO_SESSION};
use crate::transport::contract::NodeId;

/// The fact kinds the tracker records and reads.
pub mod kinds {
    /// A ceremony started: its id, prestate and op type.
    pub const STARTED: &str = "Ceremony::Started";
    /// An open ceremony was replaced by another.
    pub const SUPERSEDED: &str = "Ceremony::CeremonySuperseded";
    /// A ceremony committed.
    pub const COMMITTED: &str = "Ceremony::Committed";
    /// A ceremony aborted.
    pub const ABORTED: &str = "Ceremony::Aborted";
}

/// Identifies a ceremony.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CeremonyId(pub [u8; 32]);

/// The digest of the state a ceremony changes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PrestateHash(pub [u8; 32]);

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl fmt::Display for CeremonyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

impl fmt::Debug for CeremonyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CeremonyId(")?;
        hex(f, &self.0[..8])?;
        write!(f, "…)")
    }
}

impl fmt::Debug for PrestateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrestateHash(")?;
        hex(f, &self.0[..8])?;
        write!(f, "…)")
    }
}

/// One accepted supersession and the fact that recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supersession {
    /// The replaced ceremony.
    pub old: CeremonyId,
    /// Its replacement.
    pub new: CeremonyId,
    /// Why.
    pub reason: String,
    /// The node that recorded it.
    pub origin: NodeId,
    /// The fact's seq at that node.
    pub seq: u64,
}

/// Where a ceremony stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CeremonyStatus {
    /// Started, not yet ended or replaced.
    Open,
    /// Replaced by `by`; it can no longer commit.
    Superseded {
        /// The replacement.
        by: CeremonyId,
    },
    /// Committed.
    Committed,
    /// Aborted (possibly after being superseded).
    Aborted {
        /// Why.
        reason: String,
    },
}

/// Why the tracker refused an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// No `Ceremony::Started` fact names this ceremony.
    #[error("unknown ceremony {0}")]
    Unknown(CeremonyId),
    /// A ceremony with this id was already started.
    #[error("ceremony {0} was already started")]
    AlreadyStarted(CeremonyId),
    /// A ceremony cannot supersede itself.
    #[error("ceremony {0} cannot supersede itself")]
    SelfSupersession(CeremonyId),
    /// The ceremony was superseded; it cannot commit or be superseded again.
    #[error("ceremony {id} was superseded by {by}")]
    Superseded {
        /// The ceremony.
        id: CeremonyId,
        /// Its replacement.
        by: CeremonyId,
    },
    /// The ceremony committed.
    #[error("ceremony {0} already committed")]
    Committed(CeremonyId),
    /// The ceremony aborted.
    #[error("ceremony {0} already aborted")]
    Aborted(CeremonyId),
    /// The supersession would close a cycle of replacements.
    #[error("superseding {old} by {new} would form a cycle")]
    Cycle {
        /// The ceremony to replace.
        old: CeremonyId,
        /// The proposed replacement.
        new: CeremonyId,
    },
    /// The two ceremonies are of different op types.
    #[error("ceremony {new} ({new_op}) cannot supersede {old} ({old_op})")]
    OpTypeMismatch {
        /// The ceremony to replace.
        old: CeremonyId,
        /// Its op type.
        old_op: String,
        /// The proposed replacement.
        new: CeremonyId,
        /// Its op type.
        new_op: String,
    },
    /// The facts violate an invariant the tracker maintains (a bug, or a
    /// journal edited outside it).
    #[error("ceremony invariant violated: {0}")]
    Invariant(String),
}

#[derive(Serialize, Deserialize)]
struct StartedBody {
    id: CeremonyId,
    prestate: PrestateHash,
    op_type: String,
}

#[derive(Serialize, Deserialize)]
struct SupersededBody {
    old: CeremonyId,
    new: CeremonyId,
    reason: String,
}

#[derive(Serialize, Deserialize)]
struct CommittedBody {
    id: CeremonyId,
}

#[derive(Serialize, Deserialize)]
struct AbortedBody {
    id: CeremonyId,
    reason: String,
}

#[derive(Clone)]
struct Started {
    prestate: PrestateHash,
    op_type: String,
}

/// The tracker's state, computed from the journal's facts.
#[derive(Default)]
struct View {
    started: BTreeMap<CeremonyId, Started>,
    superseded_by: BTreeMap<CeremonyId, Supersession>,
    committed: BTreeSet<CeremonyId>,
    aborted: BTreeMap<CeremonyId, String>,
    void: Vec<Supersession>,
    malformed: u64,
}

impl View {
    fn build(journal: &Journal) -> Result<View, CeremonyError> {
        let mut view = View::default();
        for fact in journal.by_kind(kinds::STARTED)? {
            match postcard::from_bytes::<StartedBody>(&fact.body) {
                Ok(b) => {
                    let started = Started {
                        prestate: b.prestate,
                        op_type: b.op_type,
                    };
                    view.started.entry(b.id).or_insert(started);
                }
                Err(_) => view.malformed += 1,
            }
        }
        for fact in journal.by_kind(kinds::COMMITTED)? {
            match postcard::from_bytes::<CommittedBody>(&fact.body) {
                Ok(b) => {
                    view.committed.insert(b.id);
                }
                Err(_) => view.malformed += 1,
            }
        }
        for fact in journal.by_kind(kinds::ABORTED)? {
            match postcard::from_bytes::<AbortedBody>(&fact.body) {
                Ok(b) => {
                    view.aborted.entry(b.id).or_insert(b.reason);
                }
                Err(_) => view.malformed += 1,
            }
        }
        for fact in journal.by_kind(kinds::SUPERSEDED)? {
            let Ok(b) = postcard::from_bytes::<SupersededBody>(&fact.body) else {
                view.malformed += 1;
                continue;
            };
            let s = Supersession {
                old: b.old,
                new: b.new,
                reason: b.reason,
                origin: fact.origin,
                seq: fact.seq,
            };
            let accept = s.old != s.new
                && !view.committed.contains(&s.old)
                && !view.superseded_by.contains_key(&s.old)
                && !view.reaches(s.new, s.old);
            if accept {
                view.superseded_by.insert(s.old, s.clone());
            } else {
                view.void.push(s);
            }
        }
        view.check()?;
        Ok(view)
    }

    /// Whether following replacements from `from` arrives at `to`.
    fn reaches(&self, from: CeremonyId, to: CeremonyId) -> bool {
        let mut at = from;
        // Each step follows a distinct edge in an acyclic map, so at most
        // `len` steps; the bound also stops a walk on a (corrupt) cycle.
        for _ in 0..=self.superseded_by.len() {
            if at == to {
                return true;
            }
            match self.superseded_by.get(&at) {
                Some(s) => at = s.new,
                None => return false,
            }
        }
        true
    }

    /// The invariants, checked on every build (in release builds too).
    fn check(&self) -> Result<(), CeremonyError> {
        for (old, s) in &self.superseded_by {
            if self.committed.contains(old) {
                return Err(CeremonyError::Invariant(format!(
                    "ceremony {old} is both committed and superseded"
                )));
            }
            if self.reaches(s.new, *old) {
                return Err(CeremonyError::Invariant(format!(
                    "supersession chain through {old} forms a cycle"
                )));
            }
        }
        Ok(())
    }

    fn status(&self, id: &CeremonyId) -> Option<CeremonyStatus> {
        if self.committed.contains(id) {
            return Some(CeremonyStatus::Committed);
        }
        if let Some(reason) = self.aborted.get(id) {
            return Some(CeremonyStatus::Aborted {
                reason: reason.clone(),
            });
        }
        if let Some(s) = self.superseded_by.get(id) {
            return Some(CeremonyStatus::Superseded { by: s.new });
        }
        self.started.get(id).map(|_| CeremonyStatus::Open)
    }

    fn is_open(&self, id: &CeremonyId) -> bool {
        self.status(id) == Some(CeremonyStatus::Open)
    }

    /// `id` can still commit (or be superseded): started and open.
    fn check_open(&self, id: &CeremonyId) -> Result<&Started, CeremonyError> {
        let started = self.started.get(id).ok_or(CeremonyError::Unknown(*id))?;
        match self.status(id) {
            Some(CeremonyStatus::Committed) => Err(CeremonyError::Committed(*id)),
            Some(CeremonyStatus::Aborted { .. }) => Err(CeremonyError::Aborted(*id)),
            Some(CeremonyStatus::Superseded { by }) => {
                Err(CeremonyError::Superseded { id: *id, by })
            }
            _ => Ok(started),
        }
    }

    fn open_of(&self, op_type: &str) -> Vec<(CeremonyId, PrestateHash)> {
        self.started
            .iter()
            .filter(|(id, s)| s.op_type == op_type && self.is_open(id))
            .map(|(id, s)| (*id, s.prestate))
            .collect()
    }
}

struct Cache {
    len: u64,
    view: Arc<View>,
}

struct Shared {
    journal: Journal,
    cache: Mutex<Option<Cache>>,
    // Serialises check-then-record, so two local decisions never race.
    decide: tokio::sync::Mutex<()>,
}

/// Tracks ceremonies and their supersessions in a [`Journal`]. Cloneable;
/// use one tracker (and its clones) per journal, so local decisions are
/// serialised.
#[derive(Clone)]
pub struct CeremonyTracker {
    shared: Arc<Shared>,
}

impl CeremonyTracker {
    /// A tracker over `journal`'s ceremony facts.
    pub fn new(journal: Journal) -> Self {
        CeremonyTracker {
            shared: Arc::new(Shared {
                journal,
                cache: Mutex::new(None),
                decide: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.shared.journal
    }

    fn lock_cache(&self) -> MutexGuard<'_, Option<Cache>> {
        self.shared.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The view of the journal's current facts (rebuilt when facts were added).
    fn view(&self) -> Result<Arc<View>, CeremonyError> {
        let len = self.shared.journal.len()?;
        let mut cache = self.lock_cache();
        if let Some(c) = cache.as_ref().filter(|c| c.len == len) {
            return Ok(c.view.clone());
        }
        let view = Arc::new(View::build(&self.shared.journal)?);
        *cache = Some(Cache {
            len,
            view: view.clone(),
        });
        Ok(view)
    }

    /// Starts ceremony `id` of `op_type` on `prestate`, superseding every
    /// open ceremony of the same op type (reason `same prestate` or
    /// `prestate changed`) in the same atomic group. Returns those supersessions.
    pub async fn start(
        &self,
        id: CeremonyId,
        prestate: PrestateHash,
        op_type: &str,
    ) -> Result<Vec<Supersession>, CeremonyError> {
        let _decide = self.shared.decide.lock().await;
        let view = self.view()?;
        if view.started.contains_key(&id) {
            return Err(CeremonyError::AlreadyStarted(id));
        }
        let body = StartedBody {
            id,
            prestate,
            op_type: op_type.to_owned(),
        };
        let mut facts = vec![fact(kinds::STARTED, &body)?];
        let mut pending = Vec::new();
        for (old, old_prestate) in view.open_of(op_type) {
            let reason = if old_prestate == prestate {
                "same prestate"
            } else {
                "prestate changed"
            };
            let body = SupersededBody {
                old,
                new: id,
                reason: reason.to_owned(),
            };
            facts.push(fact(kinds::SUPERSEDED, &body)?);
            pending.push(body);
        }
        let seqs = self.shared.journal.append(facts).await?;
        let origin = self.shared.journal.origin().clone();
        Ok(pending
            .into_iter()
            .zip(seqs.into_iter().skip(1))
            .map(|(b, seq)| Supersession {
                old: b.old,
                new: b.new,
                reason: b.reason,
                origin: origin.clone(),
                seq,
            })
            .collect())
    }

    /// Records that `new` replaces `old`. Both must be started, open and of
    /// the same op type; the supersession must not close a cycle.
    pub async fn supersede(
        &self,
        old: CeremonyId,
        new: CeremonyId,
        reason: &str,
    ) -> Result<Supersession, CeremonyError> {
        let _decide = self.shared.decide.lock().await;
        let view = self.view()?;
        if old == new {
            return Err(CeremonyError::SelfSupersession(old));
        }
        let old_op = view.check_open(&old)?.op_type.clone();
        let new_op = view.check_open(&new)?.op_type.clone();
        if old_op != new_op {
            return Err(CeremonyError::OpTypeMismatch {
                old,
                old_op,
                new,
                new_op,
            });
        }
        if view.reaches(new, old) {
            return Err(CeremonyError::Cycle { old, new });
        }
        let body = SupersededBody {
            old,
            new,
            reason: reason.to_owned(),
        };
        let seqs = self
            .shared
            .journal
            .append(vec![fact(kinds::SUPERSEDED, &body)?])
            .await?;
        Ok(Supersession {
            old,
            new,
            reason: body.reason,
            origin: self.shared.journal.origin().clone(),
            seq: seqs.first().copied().unwrap_or(0),
        })
    }

    /// Open ceremonies of `op_type` started on a prestate other than
    /// `prestate`: stale, and candidates for supersession.
    pub fn check_supersession_candidates(
        &self,
        prestate: &PrestateHash,
        op_type: &str,
    ) -> Result<Vec<CeremonyId>, CeremonyError> {
        let view = self.view()?;
        Ok(view
            .open_of(op_type)
            .into_iter()
            .filter(|(_, p)| p != prestate)
            .map(|(id, _)| id)
            .collect())
    }

    /// The supersessions from `id` forward: `id` replaced by `a`, `a` by
    /// `b`, ... up to the ceremony that has not been replaced. Empty when
    /// `id` was never superseded.
    pub fn get_supersession_chain(
        &self,
        id: &CeremonyId,
    ) -> Result<Vec<Supersession>, CeremonyError> {
        let view = self.view()?;
        let mut chain = Vec::new();
        let mut at = *id;
        while let Some(s) = view.superseded_by.get(&at) {
            if chain.len() > view.superseded_by.len() {
                return Err(CeremonyError::Invariant(format!(
                    "supersession chain from {id} does not end"
                )));
            }
            chain.push(s.clone());
            at = s.new;
        }
        Ok(chain)
    }

    /// The ceremonies `id` replaced directly, in id order.
    pub fn superseded_by_it(&self, id: &CeremonyId) -> Result<Vec<CeremonyId>, CeremonyError> {
        let view = self.view()?;
        Ok(view
            .superseded_by
            .values()
            .filter(|s| s.new == *id)
            .map(|s| s.old)
            .collect())
    }

    /// Whether `id` was replaced by another ceremony.
    pub fn is_superseded(&self, id: &CeremonyId) -> Result<bool, CeremonyError> {
        Ok(self.view()?.superseded_by.contains_key(id))
    }

    /// Where `id` stands (`None` if nothing is known of it).
    pub fn status(&self, id: &CeremonyId) -> Result<Option<CeremonyStatus>, CeremonyError> {
        Ok(self.view()?.status(id))
    }

    /// `Ok` if `id` may commit now: started, open, not superseded.
    pub fn can_commit(&self, id: &CeremonyId) -> Result<(), CeremonyError> {
        self.view()?.check_open(id).map(|_| ())
    }

    /// Records that `id` committed, refusing (and recording nothing) when it
    /// cannot commit (see [`CeremonyTracker::can_commit`]). Returns the fact's seq.
    pub async fn record_commit(&self, id: &CeremonyId) -> Result<u64, CeremonyError> {
        let _decide = self.shared.decide.lock().await;
        self.view()?.check_open(id)?;
        let facts = vec![fact(kinds::COMMITTED, &CommittedBody { id: *id })?];
        let seqs = self.shared.journal.append(facts).await?;
        Ok(seqs.first().copied().unwrap_or(0))
    }

    /// Records that `id` aborted (an open or superseded ceremony).
    pub async fn record_abort(&self, id: &CeremonyId, reason: &str) -> Result<u64, CeremonyError> {
        let _decide = self.shared.decide.lock().await;
        let view = self.view()?;
        match view.status(id) {
            None => return Err(CeremonyError::Unknown(*id)),
            Some(CeremonyStatus::Committed) => return Err(CeremonyError::Committed(*id)),
            Some(CeremonyStatus::Aborted { .. }) => return Err(CeremonyError::Aborted(*id)),
            Some(_) => {}
        }
        let body = AbortedBody {
            id: *id,
            reason: reason.to_owned(),
        };
        let seqs = self
            .shared
            .journal
            .append(vec![fact(kinds::ABORTED, &body)?])
            .await?;
        Ok(seqs.first().copied().unwrap_or(0))
    }

    /// Every ceremony of `op_type` started on `prestate`, with its status, in
    /// id order (its length numbers a new attempt on the same prestate).
    pub fn ceremonies_on(
        &self,
        prestate: &PrestateHash,
        op_type: &str,
    ) -> Result<Vec<(CeremonyId, CeremonyStatus)>, CeremonyError> {
        let view = self.view()?;
        Ok(view
            .started
            .iter()
            .filter(|(_, s)| s.op_type == op_type && s.prestate == *prestate)
            .filter_map(|(id, _)| view.status(id).map(|status| (*id, status)))
            .collect())
    }

    /// The open ceremonies of `op_type`, in id order.
    pub fn open_ceremonies(&self, op_type: &str) -> Result<Vec<CeremonyId>, CeremonyError> {
        Ok(self
            .view()?
            .open_of(op_type)
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Supersessions recorded concurrently on different nodes that lost to
    /// another fact (their old ceremony committed or was already superseded,
    /// or they would close a cycle), in `(origin, seq)` order.
    pub fn void_supersessions(&self) -> Result<Vec<Supersession>, CeremonyError> {
        Ok(self.view()?.void.clone())
    }

    /// How many ceremony facts did not decode (shipped malformed by a peer).
    pub fn malformed_facts(&self) -> Result<u64, CeremonyError> {
        Ok(self.view()?.malformed)
    }
}

fn fact<T: Serialize>(kind: &str, body: &T) -> Result<NewFact, CeremonyError> {
    let body = postcard::to_stdvec(body)
        .map_err(|e| CeremonyError::Invariant(format!("cannot encode a {kind} fact: {e}")))?;
    Ok(NewFact::new(NO_SESSION, kind, body))
}
