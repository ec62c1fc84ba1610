//! Metadata leakage: the `leak` annotation's observer classes and the ledger
//! that records what each send leaked.

use std::collections::BTreeMap;
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

/// The leakage that one send causes: units per observer class, plus free labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leakage {
    /// Units per class, indexed by [`ObserverClass::index`].
    pub amounts: [u64; 3],
    /// Items of the annotation that name no class (`pipelined_commitment`).
    pub labels: Vec<String>,
}

impl Leakage {
    /// Reads a `leak` annotation: comma-separated items, each a class (one unit),
    /// `class:n` (n units) or, failing both, a free label.
    pub fn parse(spec: &str) -> Leakage {
        let mut leakage = Leakage::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, units) = match item.split_once(':') {
                Some((name, n)) => (name.trim(), n.trim().parse::<u64>().ok()),
                None => (item, Some(1)),
            };
            match (ObserverClass::parse(name), units) {
                (Some(class), Some(units)) => {
                    let slot = &mut leakage.amounts[class.index()];
                    *slot = slot.saturating_add(units);
                }
                _ => leakage.labels.push(item.to_owned()),
            }
        }
        leakage
    }

    /// Units leaked to `class`.
    pub fn amount(&self, class: ObserverClass) -> u64 {
        self.amounts[class.index()]
    }
}

/// One send's entry in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakRecord {
    /// The receiver of the send.
    pub peer: Peer,
    /// The message label.
    pub label: &'static str,
    /// What the send leaked.
    pub leakage: Leakage,
}

/// What a role's sends have leaked, per observer class and per free label.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeakageLedger {
    totals: [u64; 3],
    labels: BTreeMap<String, u64>,
    records: Vec<LeakRecord>,
}

impl LeakageLedger {
    /// Total units leaked to `class`.
    pub fn total(&self, class: ObserverClass) -> u64 {
        self.totals[class.index()]
    }

    /// How many sends leaked the free label `label`.
    pub fn label_count(&self, label: &str) -> u64 {
        self.labels.get(label).copied().unwrap_or(0)
    }

    /// One record per send that leaked anything, in send order.
    pub fn records(&self) -> &[LeakRecord] {
        &self.records
    }

    pub(crate) fn record(&mut self, record: LeakRecord) {
        for class in ObserverClass::ALL {
            let total = &mut self.totals[class.index()];
            *total = total.saturating_add(record.leakage.amount(class));
        }
        for label in &record.leakage.labels {
            *self.labels.entry(label.clone()).or_insert(0) += 1;
        }
        self.records.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_classes_counts_and_labels() {
        assert_eq!(Leakage::parse("External,Neighbor").amounts, [1, 1, 0]);
        assert_eq!(Leakage::parse("neighbor:1").amounts, [0, 1, 0]);
        assert_eq!(Leakage::parse(" group : 3 , External").amounts, [1, 0, 3]);
        let label = Leakage::parse("pipelined_commitment");
        assert_eq!(label.amounts, [0, 0, 0]);
        assert_eq!(label.labels, ["pipelined_commitment"]);
        assert_eq!(Leakage::parse("neighbor:x").labels, ["neighbor:x"]);
        assert_eq!(Leakage::parse(""), Leakage::default());
    }

    #[test]
    fn ledger_adds_up_records() {
        let mut ledger = LeakageLedger::default();
        for spec in ["External,Group", "external:2", "tag"] {
            ledger.record(LeakRecord {
                peer: Peer::role("B"),
                label: "M",
                leakage: Leakage::parse(spec),
            });
        }
        assert_eq!(ledger.total(ObserverClass::External), 3);
        assert_eq!(ledger.total(ObserverClass::Neighbor), 0);
        assert_eq!(ledger.total(ObserverClass::Group), 1);
        assert_eq!(ledger.label_count("tag"), 1);
        assert_eq!(ledger.records().len(), 3);
    }
}
