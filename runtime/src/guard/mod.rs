//! The guard chain every send goes through, driven by the send's
//! [`SendGuard`]: capabilities (`CapGuard`), flow budget
//! (`FlowGuard`), leakage (`LeakageGuard`), then the journal fact
//! (`JournalCoupler`), the audit entry and the transport.
//!
//! All checks of a send (for a fan-out, of every member's send) run before any
//! effect: a refused send charges, records and sends nothing. Then, for each
//! receiver, the charge, fact, audit entry and leak record are applied just
//! before that receiver's frame is handed to the transport, so a failure
//! midway leaves exactly the effects of the sends that happened.
//!
//! The checks read a session's resolved state: capabilities as one flag per
//! entry of the protocol's table, budgets as one number per peer.

pub mod context;

pub mod leakage;

use crate::protocol::{Protocol, SendGuard};
use crate::roster::Peer;
use leakage::ObserverClass;

/// Why the guard chain refused a send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The role lacks a required capability.
    #[error("missing capability `{capability}`")]
    MissingCapability {
        /// The first required capability the role lacks.
        capability: &'static str,
    },
    /// The flow budget for `peer` does not cover the send.
    #[error("flow budget for {peer} has {remaining} left, the send costs {cost}")]
    FlowBudget {
        /// The receiver whose budget is short.
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

/// Runs every check of `guard` for one send to each peer index in `targets`.
///
/// `held[i]` says whether the role holds capability `i` of the protocol's
/// table; `budgets[p]` is what is left for peer `p`; `peer(p)` names it.
/// `pending` is scratch space of `budgets.len()` zeros, left zeroed.
pub(crate) fn check(
    protocol: &Protocol,
    guard: &SendGuard,
    held: &[bool],
    budgets: &[u64],
    pending: &mut [u64],
    peer: impl Fn(usize) -> Peer,
    targets: &[usize],
) -> Result<(), Refusal> {
    for &c in guard.capabilities {
        let c = usize::from(c);
        if !held.get(c).copied().unwrap_or(false) {
            let capability = protocol.capabilities.get(c).copied().unwrap_or("?");
            return Err(Refusal::MissingCapability { capability });
        }
    }
    if guard.flow_cost > 0 {
        let mut short = None;
        for &p in targets {
            pending[p] = pending[p].saturating_add(guard.flow_cost);
            if short.is_none() && pending[p] > budgets[p] {
                short = Some(p);
            }
        }
        let refusal = short.map(|p| Refusal::FlowBudget {
            peer: peer(p),
            remaining: budgets[p],
            cost: pending[p],
        });
        for &p in targets {
            pending[p] = 0;
        }
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
    }
    if let Some(budget) = guard.leakage_budget {
        for class in ObserverClass::ALL {
            let (amount, budget) = (guard.leak_to(class), budget[class.index()]);
            if amount > budget {
                return Err(Refusal::Leakage {
                    class,
                    amount,
                    budget,
                });
            }
        }
    }
    Ok(())
}
