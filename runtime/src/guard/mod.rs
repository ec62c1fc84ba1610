//! The guard chain every send goes through, driven by the send's annotations:
//! capabilities (`CapGuard`), flow budget (`FlowGuard`), journal
//! (`JournalCoupler`), leakage (`LeakageGuard`), then the transport.
//!
//! All checks run before any effect: a refused send charges, records and sends
//! nothing. Then the charge, journal fact, audit entry and leakage record are
//! applied together, and only then is the message handed to the transport.
//! A fan-out is one batch: every member's send is checked before any is applied.
//!
//! `leakage_budget` bounds what one send may leak per observer class; the
//! ledger keeps the running totals.

pub mod context;
pub mod journal;
pub mod leakage;

use std::collections::BTreeMap;

use crate::roster::Peer;
use context::{AuditEntry, RoleContext};
use leakage::{LeakRecord, Leakage, ObserverClass};

/// The annotations of one send statement, built by generated code as a `const`.
///
/// ```
/// use choreo_runtime::SendGuard;
/// const COMMIT: SendGuard = SendGuard {
///     capabilities: &["consensus:finalize"],
///     flow_cost: 100,
///     journal_fact: Some("ConsensusFact::Committed"),
///     leak: Some("External,Neighbor"),
///     leakage_budget: Some([1, 1, 1]),
///     ..SendGuard::NONE
/// };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendGuard {
    /// `guard_capability`, already split at commas and trimmed: all are required.
    pub capabilities: &'static [&'static str],
    /// `flow_cost`: charged to the sender's budget for the receiver.
    pub flow_cost: u64,
    /// `journal_facts`: the fact recorded in the sender's journal.
    pub journal_fact: Option<&'static str>,
    /// `journal_merge`: the message carries the sender's journal for the receiver to merge.
    pub journal_merge: bool,
    /// `audit_log`: the audit entry written.
    pub audit_log: Option<&'static str>,
    /// `leak`: observer classes, `class:n` or a free label (see [`Leakage::parse`]).
    pub leak: Option<&'static str>,
    /// `leakage_budget`: `[external, neighbor, group]` this send may leak.
    pub leakage_budget: Option<[u64; 3]>,
}

impl SendGuard {
    /// A send without annotations: nothing is checked or recorded.
    pub const NONE: SendGuard = SendGuard {
        capabilities: &[],
        flow_cost: 0,
        journal_fact: None,
        journal_merge: false,
        audit_log: None,
        leak: None,
        leakage_budget: None,
    };
}

impl Default for SendGuard {
    fn default() -> Self {
        SendGuard::NONE
    }
}

/// Why the guard chain refused a send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The role lacks a required capability.
    #[error("missing capability `{capability}`")]
    MissingCapability {
        /// The first required capability the role lacks.
        capability: &'static str,
    },
    /// The send would overdraw the flow budget for `peer`.
    #[error("flow budget for {peer} has {remaining} left, send costs {cost}")]
    FlowBudget {
        /// The peer whose budget is short.
        peer: Peer,
        /// What is left of it.
        remaining: u64,
        /// What the send (all of a fan-out's sends to that peer) costs.
        cost: u64,
    },
    /// The send would leak more to `class` than its `leakage_budget` allows.
    #[error("leakage to {class} would reach {amount}, budget {budget}")]
    Leakage {
        /// The observer class over budget.
        class: ObserverClass,
        /// What the send would leak to it.
        amount: u64,
        /// What the send may leak to it.
        budget: u64,
    },
}

impl Refusal {
    /// The guard that refused, by its name in the seed (`CapGuard`, `FlowGuard`, `LeakageGuard`).
    pub fn guard(&self) -> &'static str {
        match self {
            Refusal::MissingCapability { .. } => "CapGuard",
            Refusal::FlowBudget { .. } => "FlowGuard",
            Refusal::Leakage { .. } => "LeakageGuard",
        }
    }
}

/// A batch of sends that passed every check; applying it records their effects.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    guard: &'a SendGuard,
    leakage: Leakage,
}

/// Runs every check of the chain for one send of `guard` to each of `peers`.
pub(crate) fn check<'a>(
    ctx: &RoleContext,
    guard: &'a SendGuard,
    peers: &[&Peer],
) -> Result<Permit<'a>, Refusal> {
    if let Some(capability) = guard
        .capabilities
        .iter()
        .copied()
        .find(|c| !ctx.has_capability(c))
    {
        return Err(Refusal::MissingCapability { capability });
    }
    if guard.flow_cost > 0 {
        let mut costs: BTreeMap<&Peer, u64> = BTreeMap::new();
        for peer in peers {
            let cost = costs.entry(peer).or_insert(0);
            *cost = cost.saturating_add(guard.flow_cost);
        }
        for (peer, cost) in costs {
            let remaining = ctx.remaining_budget(peer);
            if cost > remaining {
                let peer = peer.clone();
                return Err(Refusal::FlowBudget {
                    peer,
                    remaining,
                    cost,
                });
            }
        }
    }
    let leakage = guard.leak.map(Leakage::parse).unwrap_or_default();
    if let Some(budget) = guard.leakage_budget {
        for class in ObserverClass::ALL {
            let (amount, budget) = (leakage.amount(class), budget[class.index()]);
            if amount > budget {
                return Err(Refusal::Leakage {
                    class,
                    amount,
                    budget,
                });
            }
        }
    }
    Ok(Permit { guard, leakage })
}

impl Permit<'_> {
    /// Charges, journals, audits and records the leakage of each send, sender `me`.
    pub(crate) fn apply(
        self,
        ctx: &mut RoleContext,
        me: &Peer,
        label: &'static str,
        peers: &[&Peer],
    ) {
        let leaks = self.leakage != Leakage::default();
        for peer in peers {
            ctx.charge(peer, self.guard.flow_cost);
            if let Some(fact) = self.guard.journal_fact {
                ctx.journal.record(me, fact, peer);
            }
            if let Some(entry) = self.guard.audit_log {
                let peer = (*peer).clone();
                ctx.audit.push(AuditEntry { entry, peer, label });
            }
            if leaks {
                let (peer, leakage) = ((*peer).clone(), self.leakage.clone());
                ctx.ledger.record(LeakRecord {
                    peer,
                    label,
                    leakage,
                });
            }
        }
    }
}
