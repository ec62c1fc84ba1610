//! Helpers shared by the integration tests: a test protocol (an Initiator and a
//! Guardian family) and sessions of it on an in-memory network.
#![allow(dead_code)]

use std::time::Duration;

use choreo_runtime::{
    Digest, ErrorKind, MemoryNetwork, MemoryTransport, Node, NodeOptions, Peer, Protocol,
    RoleContext, RoleDecl, Roster, SendGuard, Session, SessionId,
};

/// The receive timeout of the tests (virtual time: most tests pause the clock).
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Label ids of [`CEREMONY`].
pub const PROPOSE: u16 = 0;
pub const RESPOND: u16 = 1;
pub const COMMIT: u16 = 2;
pub const ABORT: u16 = 3;

/// Guard ids of [`CEREMONY`].
pub const G_FULL: u16 = 0;
pub const G_RESPOND: u16 = 1;
pub const G_COMMIT: u16 = 2;
pub const G_ABORT: u16 = 3;
pub const G_LEAKY: u16 = 4;
pub const G_MERGE: u16 = 5;
pub const G_PLAIN: u16 = 6;

/// A ceremony-like protocol with one guard per feature of the chain.
pub static CEREMONY: Protocol = Protocol {
    name: "TestCeremony",
    digest: Digest([0xC1; 16]),
    roles: &[
        RoleDecl {
            name: "Initiator",
            family: false,
        },
        RoleDecl {
            name: "Guardian",
            family: true,
        },
    ],
    labels: &["Propose", "Respond", "Commit", "Abort"],
    capabilities: &["ceremony:propose", "ceremony:commit"],
    facts: &["CeremonyFact::Proposed", "CeremonyFact::Responded"],
    guards: &[
        // G_FULL: every annotation at once.
        SendGuard {
            label: PROPOSE,
            capabilities: &[0],
            flow_cost: 5,
            journal_fact: Some(0),
            journal_merge: false,
            audit_log: Some("ceremony.proposed"),
            leak: [0, 0, 1],
            leak_labels: &[],
            leakage_budget: Some([0, 0, 1]),
        },
        // G_RESPOND: a fact, shipped to the Initiator.
        SendGuard {
            journal_fact: Some(1),
            journal_merge: true,
            ..SendGuard::plain(RESPOND)
        },
        // G_COMMIT: needs a capability the Initiator may lack.
        SendGuard {
            capabilities: &[1],
            ..SendGuard::plain(COMMIT)
        },
        // G_ABORT: nothing.
        SendGuard::plain(ABORT),
        // G_LEAKY: leaks more than its budget.
        SendGuard {
            leak: [2, 0, 0],
            leakage_budget: Some([1, 1, 1]),
            ..SendGuard::plain(ABORT)
        },
        // G_MERGE: ships the sender's facts.
        SendGuard {
            journal_merge: true,
            ..SendGuard::plain(ABORT)
        },
        // G_PLAIN: a Propose with no requirement.
        SendGuard::plain(PROPOSE),
    ],
};

/// The same protocol under another digest (another build of it).
pub static CEREMONY_V2: Protocol = Protocol {
    digest: Digest([0xC2; 16]),
    ..CEREMONY
};

/// `Initiator` plus the family `Guardian` of `n` members.
pub fn ceremony(n: u32) -> Roster {
    Roster::new()
        .with_role("Initiator")
        .with_family("Guardian", n)
}

/// `Guardian[i]`.
pub fn guardian(i: u32) -> Peer {
    Peer::member("Guardian", i)
}

/// `Initiator`.
pub const INITIATOR: Peer = Peer::role("Initiator");

/// The nodes of a ceremony of `n` guardians, one per peer (named like it).
pub struct Net {
    pub net: MemoryNetwork,
    pub initiator: Node<MemoryTransport>,
    pub guardians: Vec<Node<MemoryTransport>>,
    pub roster: Roster,
}

impl Net {
    /// A network with an Initiator node and `n` guardian nodes.
    pub fn new(n: u32) -> Net {
        Net::with_options(n, NodeOptions::default)
    }

    /// The same, every node made with `options()` (timeout set to [`TIMEOUT`]).
    pub fn with_options(n: u32, options: impl Fn() -> NodeOptions) -> Net {
        let net = MemoryNetwork::new();
        let opts = || NodeOptions {
            timeout: TIMEOUT,
            ..options()
        };
        let initiator = net.node_with("Initiator", opts()).expect("node");
        let guardians = (0..n)
            .map(|i| {
                net.node_with(&guardian(i).to_string(), opts())
                    .expect("node")
            })
            .collect();
        Net {
            net,
            initiator,
            guardians,
            roster: ceremony(n),
        }
    }

    /// A fresh session id.
    pub fn id(&self) -> SessionId {
        self.initiator.new_session_id()
    }

    /// The Initiator's side of session `id`.
    pub fn initiator<'a>(
        &self,
        id: SessionId,
        ctx: &'a mut RoleContext,
    ) -> Session<'a, MemoryTransport> {
        self.initiator
            .session(&CEREMONY, id, &self.roster, INITIATOR, ctx)
            .expect("the initiator joins")
    }

    /// Guardian `i`'s side of session `id`.
    pub fn guardian<'a>(
        &self,
        i: u32,
        id: SessionId,
        ctx: &'a mut RoleContext,
    ) -> Session<'a, MemoryTransport> {
        self.guardians[i as usize]
            .session(&CEREMONY, id, &self.roster, guardian(i), ctx)
            .expect("the guardian joins")
    }
}

/// Asserts that nothing reaches `session` from `from` (its receive times out).
pub async fn receives_nothing(session: &mut Session<'_, MemoryTransport>, from: Peer) {
    let err = session
        .recv_choice(from, &[PROPOSE, RESPOND, COMMIT, ABORT])
        .await
        .expect_err("nothing was sent");
    assert!(
        matches!(err.kind(), ErrorKind::Timeout { .. }),
        "expected a timeout, got {err}"
    );
}
