//! The per-role state the guard chain reads and updates: capabilities, flow
//! budgets, journal, leakage ledger and audit log.

use std::collections::{BTreeMap, BTreeSet};

use crate::guard::journal::Journal;
use crate::guard::leakage::LeakageLedger;
use crate::roster::Peer;

/// One audit entry, written by a send annotated `audit_log`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The annotation's text (`consensus.commit`).
    pub entry: &'static str,
    /// The receiver of the send.
    pub peer: Peer,
    /// The message label.
    pub label: &'static str,
}

/// What one role holds for the guard chain; the caller builds it and hands it to the adapter.
///
/// By default a role holds no capabilities and every peer's flow budget is
/// unlimited (`u64::MAX`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleContext {
    capabilities: BTreeSet<String>,
    default_budget: u64,
    budgets: BTreeMap<Peer, u64>,
    pub(crate) journal: Journal,
    pub(crate) ledger: LeakageLedger,
    pub(crate) audit: Vec<AuditEntry>,
}

impl Default for RoleContext {
    fn default() -> Self {
        RoleContext {
            capabilities: BTreeSet::new(),
            default_budget: u64::MAX,
            budgets: BTreeMap::new(),
            journal: Journal::default(),
            ledger: LeakageLedger::default(),
            audit: Vec::new(),
        }
    }
}

impl RoleContext {
    /// No capabilities, unlimited budgets, empty journal, ledger and audit log.
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

    /// Sets the flow budget of every peer without a budget of its own.
    pub fn with_default_budget(mut self, budget: u64) -> Self {
        self.default_budget = budget;
        self
    }

    /// Sets the flow budget left for sends to `peer`.
    pub fn with_budget(mut self, peer: Peer, budget: u64) -> Self {
        self.budgets.insert(peer, budget);
        self
    }

    /// Whether the role holds `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }

    /// The flow budget left for sends to `peer`.
    pub fn remaining_budget(&self, peer: &Peer) -> u64 {
        self.budgets
            .get(peer)
            .copied()
            .unwrap_or(self.default_budget)
    }

    /// The facts recorded by this role's sends and merged from peers.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// What this role's sends leaked.
    pub fn ledger(&self) -> &LeakageLedger {
        &self.ledger
    }

    /// The audit entries of this role's sends, in send order.
    pub fn audit_log(&self) -> &[AuditEntry] {
        &self.audit
    }

    /// Deducts `cost` from `peer`'s budget; the caller has checked the headroom.
    pub(crate) fn charge(&mut self, peer: &Peer, cost: u64) {
        let left = self.remaining_budget(peer).saturating_sub(cost);
        self.budgets.insert(peer.clone(), left);
    }
}
