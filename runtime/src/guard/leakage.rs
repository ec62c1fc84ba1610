//! Metadata leakage: the observer classes of the `leak` annotation and the
//! ledger of what a role's sends leaked, kept as running totals plus a
//! bounded history of the most recent sends, so memory stays flat however
//! long a role runs.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::roster::Peer;

/// An observer class of metadata leakage, in `leakage_budget` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObserverClass {
    /// Observers outside the account and its neighbours.
    External,
    /// Neighbouring peers (relays, contacts).
    Neighbor,
    /// The account's own group.
    Group,
}

impl ObserverClass {
    /// The three classes, in `leakage_budget` order `[external, neighbor, group]`.
    pub const ALL: [ObserverClass; 3] = [
        ObserverClass::External,
        ObserverClass::Neighbor,
        ObserverClass::Group,
    ];

    /// The class named `name`, ignoring ASCII case (`External`, `neighbor`).
    pub fn parse(name: &str) -> Option<Self> {
        ObserverClass::ALL
            .into_iter()
            .find(|class| class.to_string().eq_ignore_ascii_case(name))
    }

    /// Position in `leakage_budget` (`External` 0, `Neighbor` 1, `Group` 2).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ObserverClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObserverClass::External => "External",
            ObserverClass::Neighbor => "Neighbor",
            ObserverClass::Group => "Group",
        })
    }
}

/// One leaking send, as the ledger's history keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakRecord {
    /// The receiver of the send.
    pub peer: Peer,
    /// The message label.
    pub label: &'static str,
    /// Units leaked per class, indexed by [`ObserverClass::index`].
    pub amounts: [u64; 3],
}

/// How many leaking sends the history keeps unless configured otherwise.
pub const DEFAULT_LEAK_HISTORY: usize = 64;

/// What a role's sends leaked: totals per class and per free label, the
/// number of leaking sends, and the most recent ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakageLedger {
    totals: [u64; 3],
    labels: BTreeMap<&'static str, u64>,
    sends: u64,
    recent: VecDeque<LeakRecord>,
    history: usize,
}

impl Default for LeakageLedger {
    fn default() -> Self {
        LeakageLedger::with_history(DEFAULT_LEAK_HISTORY)
    }
}

impl LeakageLedger {
    /// An empty ledger keeping the last `history` leaking sends.
    pub fn with_history(history: usize) -> Self {
        LeakageLedger {
            totals: [0; 3],
            labels: BTreeMap::new(),
            sends: 0,
            recent: VecDeque::with_capacity(history.min(DEFAULT_LEAK_HISTORY)),
            history,
        }
    }

    /// Total units leaked to `class`.
    pub fn total(&self, class: ObserverClass) -> u64 {
        self.totals[class.index()]
    }

    /// How many sends leaked the free label `label`.
    pub fn label_count(&self, label: &str) -> u64 {
        self.labels.get(label).copied().unwrap_or(0)
    }

    /// How many sends leaked anything.
    pub fn sends(&self) -> u64 {
        self.sends
    }

    /// The most recent leaking sends, oldest first (at most the history size).
    pub fn recent(&self) -> impl ExactSizeIterator<Item = &LeakRecord> {
        self.recent.iter()
    }

    pub(crate) fn record(&mut self, record: LeakRecord, labels: &[&'static str]) {
        for (total, amount) in self.totals.iter_mut().zip(record.amounts) {
            *total = total.saturating_add(amount);
        }
        for label in labels {
            *self.labels.entry(label).or_insert(0) += 1;
        }
        self.sends += 1;
        if self.history == 0 {
            return;
        }
        if self.recent.len() == self.history {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_parse_ignoring_case() {
        assert_eq!(
            ObserverClass::parse("neighbor"),
            Some(ObserverClass::Neighbor)
        );
        assert_eq!(ObserverClass::parse("tag"), None);
    }

    #[test]
    fn ledger_keeps_totals_and_a_bounded_history() {
        let mut ledger = LeakageLedger::with_history(2);
        for (i, amounts) in [[1, 0, 1], [2, 0, 0], [0, 0, 0]].into_iter().enumerate() {
            let labels: &[&str] = if i == 2 { &["tag"] } else { &[] };
            let record = LeakRecord {
                peer: Peer::role("B"),
                label: ["A", "B", "C"][i],
                amounts,
            };
            ledger.record(record, labels);
        }
        assert_eq!(ledger.total(ObserverClass::External), 3);
        assert_eq!(ledger.total(ObserverClass::Neighbor), 0);
        assert_eq!(ledger.total(ObserverClass::Group), 1);
        assert_eq!(ledger.label_count("tag"), 1);
        assert_eq!(ledger.sends(), 3);
        let kept: Vec<&str> = ledger.recent().map(|r| r.label).collect();
        assert_eq!(kept, ["B", "C"]);
    }
}
