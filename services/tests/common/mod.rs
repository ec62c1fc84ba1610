//! Shared set-up of the end-to-end tests: one node per peer on a fresh
//! in-memory network, each with a role context holding the capabilities its
//! sends need, and every peer's session joined before any role runs (frames
//! that arrive before a party joins are dropped). The tests then run the
//! roles concurrently with `tokio::join!` and `join_all`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use choreo_runtime::{
    MemoryNetwork, MemoryTransport, Node, NodeOptions, Peer, Protocol, RoleContext, Roster, Session,
};
use choreo_services::ServiceError;

/// Flow budget per peer: more than any session of the tests spends.
pub const BUDGET: u64 = 1_000;

/// The receive timeout of every session. Tests that run with the clock
/// paused check that a failure ends every peer before this much virtual time
/// passed, that is without anyone waiting for a timeout.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// One peer: its node and the guard state its sessions borrow.
pub struct Party {
    /// The peer it plays.
    pub peer: Peer,
    /// Its node (named like the peer).
    pub node: Node<MemoryTransport>,
    /// Its capabilities, budgets, leakage ledger and audit log.
    pub ctx: RoleContext,
}

/// Every peer of one protocol's roster, on one network.
pub struct Harness {
    /// The network the nodes are on.
    pub net: MemoryNetwork,
    /// The roster every session of the harness runs with.
    pub roster: Roster,
    protocol: &'static Protocol,
    parties: Vec<Party>,
}

/// The sessions of one run, by peer, until each is taken to run its role.
pub struct Sessions<'a> {
    open: BTreeMap<Peer, Session<'a, MemoryTransport>>,
}

impl<'a> Sessions<'a> {
    /// The session of `peer`.
    pub fn take(&mut self, peer: Peer) -> Session<'a, MemoryTransport> {
        self.open
            .remove(&peer)
            .unwrap_or_else(|| panic!("{peer} is a party with a session left"))
    }

    /// The sessions of members `0..n` of `family`, in member order.
    pub fn members(&mut self, family: &'static str, n: u32) -> Vec<Session<'a, MemoryTransport>> {
        (0..n).map(|k| self.take(Peer::member(family, k))).collect()
    }

    /// Asserts that every session was taken, and ends the borrow of the
    /// harness (a session left here would be cancelled when dropped).
    pub fn done(self) {
        let left: Vec<String> = self.open.keys().map(Peer::to_string).collect();
        assert!(left.is_empty(), "sessions left unrun: {left:?}");
    }
}

impl Harness {
    /// A node per peer of `protocol`, each family sized by `families`, and
    /// each peer holding the capabilities listed for its role (or family) in
    /// `capabilities` and [`BUDGET`] towards every peer.
    pub fn new(
        protocol: &'static Protocol,
        families: &[(&str, u32)],
        capabilities: &[(&str, &[&str])],
    ) -> Harness {
        let net = MemoryNetwork::new();
        let mut roster = Roster::new();
        let mut peers = Vec::new();
        for role in protocol.roles {
            if role.family {
                let size = families
                    .iter()
                    .find(|(name, _)| *name == role.name)
                    .map(|(_, n)| *n)
                    .unwrap_or_else(|| panic!("a size for the family {}", role.name));
                roster = roster.with_family(role.name, size);
                peers.extend((0..size).map(|k| Peer::member(role.name, k)));
            } else {
                roster = roster.with_role(role.name);
                peers.push(Peer::role(role.name));
            }
        }
        let parties = peers
            .into_iter()
            .map(|peer| {
                let options = NodeOptions {
                    timeout: TIMEOUT,
                    ..NodeOptions::default()
                };
                let node = net
                    .node_with(&peer.to_string(), options)
                    .expect("a fresh node name");
                let caps = capabilities
                    .iter()
                    .find(|(name, _)| *name == peer.name())
                    .map(|(_, caps)| *caps)
                    .unwrap_or(&[]);
                let ctx = RoleContext::new()
                    .with_capabilities(caps.iter().copied())
                    .with_default_budget(BUDGET);
                Party { peer, node, ctx }
            })
            .collect();
        Harness {
            net,
            roster,
            protocol,
            parties,
        }
    }

    /// Every peer joins one new session; the sessions borrow the peers'
    /// contexts until they end.
    pub fn join(&mut self) -> Sessions<'_> {
        let id = self.parties[0].node.new_session_id();
        let (protocol, roster) = (self.protocol, &self.roster);
        let open = self
            .parties
            .iter_mut()
            .map(|party| {
                let session = party
                    .node
                    .session(protocol, id, roster, party.peer, &mut party.ctx)
                    .expect("every peer joins");
                (party.peer, session)
            })
            .collect();
        Sessions { open }
    }

    fn party(&self, peer: Peer) -> &Party {
        self.parties
            .iter()
            .find(|p| p.peer == peer)
            .unwrap_or_else(|| panic!("{peer} is a party"))
    }

    /// The node of `peer` (its journal holds the facts of its sends).
    pub fn node(&self, peer: Peer) -> &Node<MemoryTransport> {
        &self.party(peer).node
    }

    /// The guard state of `peer`, as its sessions left it.
    pub fn context(&self, peer: Peer) -> &RoleContext {
        &self.party(peer).ctx
    }
}

/// Asserts that `outcome` is a cancellation by `by` whose reason contains `reason`.
#[track_caller]
pub fn assert_cancelled<T: std::fmt::Debug>(
    outcome: &Result<T, ServiceError>,
    by: Peer,
    reason: &str,
) {
    match outcome {
        Err(ServiceError::Cancelled {
            by: who,
            reason: why,
        }) => {
            assert_eq!(*who, by, "cancelled by {who}: {why}");
            assert!(why.contains(reason), "`{why}` does not say `{reason}`");
        }
        other => panic!("expected a cancellation by {by} ({reason}), got {other:?}"),
    }
}

/// Asserts that `outcome` is this role's own refusal, with exactly `reason`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(outcome: &Result<T, ServiceError>, reason: &str) {
    match outcome {
        Err(ServiceError::Refused(why)) => assert_eq!(why, reason),
        other => panic!("expected the refusal `{reason}`, got {other:?}"),
    }
}

/// Asserts how `me` ended when `refuser` refused for `reason`: with that
/// refusal if `me` is the refuser, cancelled by it with that reason otherwise.
#[track_caller]
pub fn assert_stopped_by<T: std::fmt::Debug>(
    outcome: &Result<T, ServiceError>,
    me: Peer,
    refuser: Peer,
    reason: &str,
) {
    if me == refuser {
        assert_refused(outcome, reason);
    } else {
        assert_cancelled(outcome, refuser, reason);
    }
}
