//! The per-role state the guard chain reads and updates: capabilities, flow
//! budgets (replenished per epoch), the leakage ledger and the audit log.
//!
//! A session borrows its role's context for as long as it runs; sessions
//! running at the same time use contexts of their own. The journal is the
//! node's ([`crate::Node::journal`]), shared by all its sessions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::guard::leakage::LeakageLedger;
use crate::roster::Peer;

/// One audit entry, written by a send annotated `audit_log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The annotation's text (`consensus.commit`).
    pub entry: &'static str,
    /// The receiver of the send.
    pub peer: Peer,
    /// The message label.
    pub label: &'static str,
}

/// How many audit entries a context keeps unless configured otherwise.
pub const DEFAULT_AUDIT_CAPACITY: usize = 1024;

/// A role's flow budget towards one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Budget {
    per_epoch: u64,
    remaining: u64,
}

/// What one role holds for the guard chain; the caller builds it and lends it
/// to each session the role runs.
///
/// By default a role holds no capabilities and every peer's flow budget is
/// unlimited (`u64::MAX` per epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleContext {
    capabilities: BTreeSet<String>,
    default_budget: u64,
    budgets: BTreeMap<Peer, Budget>,
    epoch: u64,
    pub(crate) ledger: LeakageLedger,
    audit: VecDeque<AuditEntry>,
    audit_capacity: usize,
    audit_total: u64,
}

impl Default for RoleContext {
    fn default() -> Self {
        RoleContext {
            capabilities: BTreeSet::new(),
            default_budget: u64::MAX,
            budgets: BTreeMap::new(),
            epoch: 1,
            ledger: LeakageLedger::default(),
            audit: VecDeque::new(),
            audit_capacity: DEFAULT_AUDIT_CAPACITY,
            audit_total: 0,
        }
    }
}

impl RoleContext {
    /// No capabilities, unlimited budgets, empty ledger and audit log, epoch 1.
    pub fn new() -> Self {
        RoleContext::default()
    }

    /// Grants the capabilities in `capabilities`.
    pub fn with_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities
            .extend(capabilities.into_iter().map(Into::into));
        self
    }

    /// Sets the per-epoch flow budget of every peer without a budget of its own.
    pub fn with_default_budget(mut self, budget: u64) -> Self {
        self.default_budget = budget;
        self
    }

    /// Sets the per-epoch flow budget for sends to `peer` (all of it left now).
    pub fn with_budget(mut self, peer: Peer, budget: u64) -> Self {
        let budget = Budget {
            per_epoch: budget,
            remaining: budget,
        };
        self.budgets.insert(peer, budget);
        self
    }

    /// Keeps at most `capacity` audit entries (the oldest go first).
    pub fn with_audit_capacity(mut self, capacity: usize) -> Self {
        self.audit_capacity = capacity;
        while self.audit.len() > capacity {
            self.audit.pop_front();
        }
        self
    }

    /// Keeps at most `history` leaking sends in the ledger's history.
    pub fn with_leak_history(mut self, history: usize) -> Self {
        self.ledger = LeakageLedger::with_history(history);
        self
    }

    /// Whether the role holds `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }

    /// The flow budget left for sends to `peer` in this epoch.
    pub fn remaining_budget(&self, peer: &Peer) -> u64 {
        self.budgets
            .get(peer)
            .map_or(self.default_budget, |b| b.remaining)
    }

    /// The current flow epoch (from 1).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Starts the next flow epoch: every peer's budget is whole again.
    pub fn advance_epoch(&mut self) -> u64 {
        self.epoch += 1;
        for budget in self.budgets.values_mut() {
            budget.remaining = budget.per_epoch;
        }
        self.epoch
    }

    /// What this role's sends leaked.
    pub fn ledger(&self) -> &LeakageLedger {
        &self.ledger
    }

    /// The most recent audit entries of this role's sends, oldest first.
    pub fn audit_log(&self) -> impl ExactSizeIterator<Item = &AuditEntry> {
        self.audit.iter()
    }

    /// How many audit entries were ever written (kept or not).
    pub fn audit_total(&self) -> u64 {
        self.audit_total
    }

    /// Writes back the budget left for `peer` after a session charged it.
    pub(crate) fn set_remaining(&mut self, peer: Peer, remaining: u64) {
        let default = self.default_budget;
        self.budgets
            .entry(peer)
            .or_insert(Budget {
                per_epoch: default,
                remaining: default,
            })
            .remaining = remaining;
    }

    pub(crate) fn audit(&mut self, entry: AuditEntry) {
        self.audit_total += 1;
        if self.audit_capacity == 0 {
            return;
        }
        if self.audit.len() == self.audit_capacity {
            self.audit.pop_front();
        }
        self.audit.push_back(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_replenish_per_epoch() {
        let b = Peer::role("B");
        let mut ctx = RoleContext::new().with_default_budget(10).with_budget(b, 3);
        ctx.set_remaining(b, 0);
        ctx.set_remaining(Peer::role("C"), 4);
        assert_eq!(ctx.remaining_budget(&b), 0);
        assert_eq!(ctx.remaining_budget(&Peer::role("C")), 4);
        assert_eq!(ctx.remaining_budget(&Peer::role("D")), 10);
        assert_eq!(ctx.advance_epoch(), 2);
        assert_eq!(ctx.remaining_budget(&b), 3);
        assert_eq!(ctx.remaining_budget(&Peer::role("C")), 10);
    }

    #[test]
    fn the_audit_log_is_bounded_but_counts_everything() {
        let mut ctx = RoleContext::new().with_audit_capacity(2);
        for label in ["A", "B", "C"] {
            ctx.audit(AuditEntry {
                entry: "e",
                peer: Peer::role("B"),
                label,
            });
        }
        let kept: Vec<&str> = ctx.audit_log().map(|e| e.label).collect();
        assert_eq!(kept, ["B", "C"]);
        assert_eq!(ctx.audit_total(), 3);
    }
}
