//! The in-memory journal of facts a role records when it sends (`journal_facts`)
//! and merges from peers (`journal_merge`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::roster::Peer;

/// One fact: who recorded it (and its sequence number there), what, and for which send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The role that recorded the fact.
    pub origin: Peer,
    /// Position among the facts `origin` recorded, from 0.
    pub seq: u64,
    /// The fact key (`InvitationFact::Sent`).
    pub fact: String,
    /// The receiver of the send that recorded it.
    pub peer: Peer,
}

/// A grow-only set of facts, keyed by origin and sequence number, so merging
/// the same facts twice changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal {
    entries: BTreeMap<(Peer, u64), JournalEntry>,
    next_seq: u64,
}

impl Journal {
    /// The facts, ordered by origin and then sequence number.
    pub fn entries(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries.values()
    }

    /// The number of facts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no facts.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many facts with key `fact` there are, from any origin.
    pub fn count(&self, fact: &str) -> usize {
        self.entries().filter(|e| e.fact == fact).count()
    }

    /// Records `fact` as recorded by `origin` for a send to `peer`.
    pub(crate) fn record(&mut self, origin: &Peer, fact: &str, peer: &Peer) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = JournalEntry {
            origin: origin.clone(),
            seq,
            fact: fact.to_owned(),
            peer: peer.clone(),
        };
        self.entries.insert((origin.clone(), seq), entry);
    }

    /// Adds the entries not already present; returns how many were new.
    pub(crate) fn merge(&mut self, entries: Vec<JournalEntry>) -> usize {
        let before = self.entries.len();
        for entry in entries {
            let key = (entry.origin.clone(), entry.seq);
            self.entries.entry(key).or_insert(entry);
        }
        self.entries.len() - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_a_union_by_origin_and_seq() {
        let (a, b) = (Peer::role("A"), Peer::role("B"));
        let mut ja = Journal::default();
        ja.record(&a, "Fact::One", &b);
        ja.record(&a, "Fact::Two", &b);
        let mut jb = Journal::default();
        jb.record(&b, "Fact::One", &a);
        let shipped: Vec<JournalEntry> = ja.entries().cloned().collect();
        assert_eq!(jb.merge(shipped.clone()), 2);
        assert_eq!(jb.merge(shipped), 0);
        assert_eq!(jb.len(), 3);
        assert_eq!(jb.count("Fact::One"), 2);
    }
}
