//! RelayedRendezvous through the rendezvous service: a channel through a
//! relay that only ever forwards sealed bodies, a relay without capacity or
//! for another context, and a responder that does not know the initiator.

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto::{self, Digest};
use choreo_services::rendezvous::relayed_rendezvous::{
    run_initiator, run_relay, run_responder, PeerOutcome, PeerState, RelayFact, RelayOutcome,
    RelayPolicy, RelayState,
};
use common::{session, take};

fn id(name: &str) -> Digest {
    crypto::digest("peer", &[name.as_bytes()])
}

fn context() -> Digest {
    crypto::digest("context", &[b"alice+bob"])
}

fn peer(name: &str, knows: &[&str]) -> PeerState {
    let pairwise = knows
        .iter()
        .map(|other| {
            let mut pair = [name, other];
            pair.sort();
            (
                id(other),
                crypto::digest("pairwise", &[pair[0].as_bytes(), pair[1].as_bytes()]),
            )
        })
        .collect();
    PeerState {
        peer_id: id(name),
        secret: crypto::digest("secret", &[name.as_bytes()]),
        pairwise,
        channels: Vec::new(),
        journal: Default::default(),
    }
}

fn relay(contexts: Vec<Digest>, max_slots: usize, busy: usize) -> RelayState {
    RelayState {
        policy: RelayPolicy {
            contexts,
            max_slots,
        },
        active_slots: (0..busy as u8).map(|i| [i; 16]).collect(),
        forwarded_bytes: 0,
        journal: Default::default(),
    }
}

struct Run {
    initiator: (PeerOutcome, PeerState),
    relay: (RelayOutcome, RelayState),
    responder: (PeerOutcome, PeerState),
}

async fn run(mut relay_state: RelayState, mut responder: PeerState) -> Run {
    let roster = Roster::new()
        .with_role("Initiator")
        .with_role("Relay")
        .with_role("Responder");
    let caps: [(&str, &[&str]); 2] = [
        ("Initiator", &["rendezvous:relay"]),
        ("Relay", &["relay:forward"]),
    ];
    let mut adapters = session(choreo_relayed_rendezvous::PROTOCOL, &roster, &caps);
    let mut r = take(&mut adapters, &Peer::role("Relay"));
    let relay_task = tokio::spawn(async move {
        let outcome = run_relay(&mut r, &mut relay_state)
            .await
            .expect("relay runs");
        assert_eq!(
            r.context().audit_log().len(),
            2,
            "slot granted and released are audited"
        );
        (outcome, relay_state)
    });
    let mut b = take(&mut adapters, &Peer::role("Responder"));
    let responder_task = tokio::spawn(async move {
        let outcome = run_responder(&mut b, &mut responder)
            .await
            .expect("responder runs");
        (outcome, responder)
    });
    let mut a = take(&mut adapters, &Peer::role("Initiator"));
    let mut alice = peer("alice", &["bob"]);
    let outcome = run_initiator(&mut a, &mut alice, context(), id("bob"))
        .await
        .expect("initiator runs");
    Run {
        initiator: (outcome, alice),
        relay: relay_task.await.expect("no relay panic"),
        responder: responder_task.await.expect("no responder panic"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_peers_connect_through_a_granted_slot_that_is_then_released() {
    let run = run(relay(vec![context()], 2, 1), peer("bob", &["alice"])).await;
    let (PeerOutcome::Connected(a), PeerOutcome::Connected(b)) =
        (&run.initiator.0, &run.responder.0)
    else {
        panic!(
            "both peers connect: {:?} / {:?}",
            run.initiator.0, run.responder.0
        );
    };
    assert_eq!(a.channel_id, b.channel_id);
    assert_eq!((a.peer_id, b.peer_id), (id("bob"), id("alice")));
    assert_eq!(a.slot_id, b.slot_id);
    assert_eq!(run.initiator.1.channels, vec![a.clone()]);
    let (outcome, relay) = &run.relay;
    assert_eq!(
        outcome,
        &RelayOutcome {
            granted: Ok(()),
            released: true
        }
    );
    assert_eq!(
        relay.active_slots,
        vec![[0; 16]],
        "only the other slot is left"
    );
    assert!(relay.journal.contains(&RelayFact::SlotGranted(a.slot_id)));
    assert!(relay.journal.contains(&RelayFact::SlotReleased(a.slot_id)));
    // Hello, reply (1 + 32 bytes) and two 32-byte confirmations, all sealed.
    assert_eq!(relay.forwarded_bytes, 32 + 33 + 32 + 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_slot_or_an_unknown_initiator_connects_nobody() {
    let cases = [
        (
            relay(vec![context()], 1, 1),
            peer("bob", &["alice"]),
            Err("no free slot"),
            "the relay refused the slot",
            "the relay refused the slot",
        ),
        (
            relay(vec![], 4, 0),
            peer("bob", &["alice"]),
            Err("context not relayed"),
            "the relay refused the slot",
            "the relay refused the slot",
        ),
        (
            relay(vec![context()], 1, 0),
            peer("bob", &[]),
            Ok(()),
            "the responder declined",
            "unknown initiator",
        ),
    ];
    for (relay_state, responder, granted, initiator_why, responder_why) in cases {
        let busy = relay_state.active_slots.clone();
        let run = run(relay_state, responder).await;
        assert_eq!(run.initiator.0, PeerOutcome::Failed(initiator_why.into()));
        assert_eq!(run.responder.0, PeerOutcome::Failed(responder_why.into()));
        assert!(run.initiator.1.channels.is_empty() && run.responder.1.channels.is_empty());
        let (outcome, relay) = &run.relay;
        assert_eq!(outcome.granted, granted.map_err(String::from));
        assert_eq!(relay.active_slots, busy, "no slot is left behind");
        if outcome.granted.is_err() {
            assert_eq!(relay.forwarded_bytes, 0, "a refused slot forwards nothing");
        }
    }
}
