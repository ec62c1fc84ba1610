//! Hostile frames, written byte by byte and handed to a node's router as a
//! transport would: none is delivered to a session it does not belong to,
//! none plants a fact of another origin, and each is counted.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::error::ErrorKind;
use crate::journal::{Fact, JournalError};
use crate::node::NodeOptions;
use crate::protocol::{Digest, Protocol, RoleDecl, SendGuard};
use crate::roster::{Peer, Roster};
use crate::router::NodeStats;
use crate::transport::{Inbound, NodeId, SessionId};
use crate::wire::{self, Addr, Header, Kind};
use crate::{MemoryNetwork, RoleContext};

static PAIR: Protocol = Protocol {
    name: "Pair",
    digest: Digest([0x5A; 16]),
    roles: &[
        RoleDecl {
            name: "Coordinator",
            family: false,
        },
        RoleDecl {
            name: "Witness",
            family: false,
        },
    ],
    labels: &["Vote", "Ack"],
    capabilities: &[],
    facts: &["ConsensusFact::Committed"],
    guards: &[
        SendGuard::plain(0),
        SendGuard {
            journal_merge: true,
            ..SendGuard::plain(1)
        },
    ],
};

const COORDINATOR: Peer = Peer::role("Coordinator");
const WITNESS: Peer = Peer::role("Witness");

fn addr(role: u16) -> Addr {
    Addr { role, member: None }
}

/// A message frame of session `session` from role `from` to role `to`.
fn frame(
    session: SessionId,
    from: u16,
    to: u16,
    label: u16,
    payload: &[u8],
    facts: Option<&[Fact]>,
) -> Bytes {
    let mut out = BytesMut::new();
    out.resize(wire::HEADER, 0);
    out.extend_from_slice(payload);
    if let Some(facts) = facts {
        wire::encode_into(&mut out, &facts.to_vec()).unwrap();
    }
    let header = Header {
        kind: Kind::Message,
        session,
        digest: PAIR.digest,
        from: addr(from),
        to: addr(to),
        label,
        facts: facts.is_some(),
        body_len: payload.len() as u32,
    };
    wire::write_header(&mut out[..wire::HEADER], &header);
    out.freeze()
}

fn options() -> NodeOptions {
    NodeOptions {
        timeout: Duration::from_secs(1),
        ..NodeOptions::default()
    }
}

fn roster() -> Roster {
    Roster::new().with_role("Coordinator").with_role("Witness")
}

#[tokio::test(start_paused = true)]
async fn forged_garbage_and_misaddressed_frames_are_dropped_and_counted() {
    let net = MemoryNetwork::new();
    let witness = net.node_with("Witness", options()).unwrap();
    let id = witness.new_session_id();
    let mut ctx = RoleContext::new();
    let mut session = witness
        .session(&PAIR, id, &roster(), WITNESS, &mut ctx)
        .unwrap();
    let router = &witness.inner().router;
    let coordinator = NodeId::new("Coordinator");
    let mallory = NodeId::new("Mallory");
    let vote = postcard::to_stdvec(&7u8).unwrap();
    // Mallory claims to be the Coordinator.
    router
        .deliver(&mallory, frame(id, 0, 1, 0, &vote, None))
        .await;
    // The Coordinator addresses itself, or a role that does not exist.
    router
        .deliver(&coordinator, frame(id, 0, 0, 0, &vote, None))
        .await;
    router
        .deliver(&coordinator, frame(id, 0, 9, 0, &vote, None))
        .await;
    // Bytes that are no frame at all.
    router
        .deliver(&coordinator, Bytes::from_static(b"\x01garbage"))
        .await;
    router
        .deliver(&coordinator, Bytes::from(vec![0xFF; 80]))
        .await;
    assert_eq!(
        witness.stats(),
        NodeStats {
            forged: 3,
            malformed: 2,
            ..NodeStats::default()
        }
    );
    let err = session.recv::<u8>(COORDINATOR, 0).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err}");
    // The real Coordinator's frame still gets through.
    router
        .deliver(&coordinator, frame(id, 0, 1, 0, &vote, None))
        .await;
    assert_eq!(session.recv::<u8>(COORDINATOR, 0).await.unwrap(), 7);
}

fn fact(origin: &str, seq: u64, session: SessionId) -> Fact {
    Fact {
        origin: NodeId::new(origin),
        seq,
        session,
        kind: "ConsensusFact::Committed".into(),
        body: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_fact_of_another_origin_is_rejected_and_recorded_nowhere() {
    let net = MemoryNetwork::new();
    let coordinator = net.node_with("Coordinator", options()).unwrap();
    let id = coordinator.new_session_id();
    let mut ctx = RoleContext::new();
    let mut session = coordinator
        .session(&PAIR, id, &roster(), COORDINATOR, &mut ctx)
        .unwrap();
    let router = &coordinator.inner().router;
    let witness = NodeId::new("Witness");
    // The Witness ships one fact of its own and one it claims the Coordinator recorded.
    let facts = [fact("Witness", 1, id), fact("Coordinator", 1, id)];
    let ack = postcard::to_stdvec(&()).unwrap();
    router
        .deliver(&witness, frame(id, 1, 0, 1, &ack, Some(&facts)))
        .await;
    let err = session.recv::<()>(WITNESS, 1).await.unwrap_err();
    assert_eq!(
        *err.kind(),
        ErrorKind::ForgedFact {
            claimed: NodeId::new("Coordinator"),
            sender: witness.clone(),
        }
    );
    assert!(
        coordinator.journal().is_empty().unwrap(),
        "nothing of the frame is recorded"
    );
}

#[tokio::test(start_paused = true)]
async fn conflicting_facts_of_one_origin_are_an_equivocation() {
    let net = MemoryNetwork::new();
    let coordinator = net.node_with("Coordinator", options()).unwrap();
    let id = coordinator.new_session_id();
    let mut ctx = RoleContext::new();
    let mut session = coordinator
        .session(&PAIR, id, &roster(), COORDINATOR, &mut ctx)
        .unwrap();
    let router = &coordinator.inner().router;
    let witness = NodeId::new("Witness");
    let ack = postcard::to_stdvec(&()).unwrap();
    let first = [fact("Witness", 1, id)];
    router
        .deliver(&witness, frame(id, 1, 0, 1, &ack, Some(&first)))
        .await;
    session.recv::<()>(WITNESS, 1).await.unwrap();
    let mut changed = fact("Witness", 1, id);
    changed.body = b"other".to_vec();
    let second = [fact("Witness", 2, id), changed];
    router
        .deliver(&witness, frame(id, 1, 0, 1, &ack, Some(&second)))
        .await;
    let err = session.recv::<()>(WITNESS, 1).await.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Journal(JournalError::Equivocation { seq: 1, .. })
    ));
    assert_eq!(
        coordinator.journal().len().unwrap(),
        1,
        "the batch merged nothing"
    );
}
