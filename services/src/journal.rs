//! The services' domain facts, recorded in the node's runtime journal.
//!
//! Each service records what it decided and learned (ids, epochs, members)
//! as facts of its node's [`Journal`], beside the facts the guard chain
//! records for annotated sends. A fact's kind is `<Protocol>::<Variant>`
//! (`GuardianCeremony::Committed`), its body the fact encoded with postcard,
//! and its session the session that produced it. [`facts`] reads them back
//! as the typed values.

use choreo_runtime::{Journal, JournalError, NewFact, Session, SessionId, Transport};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ServiceError;

/// A service's fact type: one protocol's facts, one kind per variant.
pub trait DomainFact: Serialize + DeserializeOwned {
    /// The protocol the facts belong to, the kinds' prefix.
    const PROTOCOL: &'static str;

    /// The variant's name, the kind's suffix.
    fn kind(&self) -> &'static str;
}

/// Where one session of a service records its facts: its node's journal.
#[derive(Clone, Debug)]
pub struct FactLog {
    journal: Journal,
    session: SessionId,
}

/// The journal kind of `fact`.
fn kind_of<F: DomainFact>(fact: &F) -> String {
    format!("{}::{}", F::PROTOCOL, fact.kind())
}

impl FactLog {
    /// The log of `session`, on its node's journal.
    pub fn of<T: Transport>(session: &Session<'_, T>) -> Self {
        FactLog {
            journal: session.node().journal().clone(),
            session: session.id(),
        }
    }

    /// The journal facts are recorded in.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Records `facts` as one atomic group; when this returns `Ok` they are
    /// as durable as the journal makes appends.
    pub async fn record_all<F: DomainFact>(&self, facts: &[F]) -> Result<(), ServiceError> {
        let mut new = Vec::with_capacity(facts.len());
        for fact in facts {
            let body = postcard::to_stdvec(fact)
                .map_err(|e| ServiceError::Invalid(format!("cannot encode a fact: {e}")))?;
            new.push(NewFact::new(self.session, kind_of(fact), body));
        }
        self.journal.append(new).await?;
        Ok(())
    }

    /// Records `fact`.
    pub async fn record<F: DomainFact>(&self, fact: F) -> Result<(), ServiceError> {
        self.record_all(std::slice::from_ref(&fact)).await
    }
}

impl From<JournalError> for ServiceError {
    fn from(e: JournalError) -> Self {
        ServiceError::Journal(e)
    }
}

/// The facts of type `F` that `journal`'s own node recorded, oldest first
/// (facts merged from peers are left out).
pub fn facts<F: DomainFact>(journal: &Journal) -> Result<Vec<F>, ServiceError> {
    let prefix = format!("{}::", F::PROTOCOL);
    let mine = journal.since(journal.origin(), 0, usize::MAX)?;
    mine.into_iter()
        .filter(|f| f.kind.starts_with(&prefix))
        .map(|f| {
            postcard::from_bytes(&f.body)
                .map_err(|e| ServiceError::Invalid(format!("fact {} does not decode: {e}", f.kind)))
        })
        .collect()
}
