//! RelayedRendezvous through the rendezvous service: a channel through a
//! relay that only ever forwards sealed bodies; a relay without capacity or
//! for another context, and a responder that does not know the initiator,
//! each of which refuses and so cancels the exchange for all three at once.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest};
use choreo_services::rendezvous::relayed_rendezvous::{
    run_initiator, run_relay, run_responder, PeerState, RelayFact, RelayOutcome, RelayPolicy,
    RelayState, RelayedChannel,
};
use choreo_services::ServiceError;
use common::{assert_stopped_by, Harness, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Initiator", &["rendezvous:relay"]),
    ("Relay", &["relay:forward"]),
];
const INITIATOR: Peer = Peer::role("Initiator");
const RELAY: Peer = Peer::role("Relay");
const RESPONDER: Peer = Peer::role("Responder");

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
    initiator: (Result<RelayedChannel, ServiceError>, PeerState),
    relay: (Result<RelayOutcome, ServiceError>, RelayState),
    responder: (Result<RelayedChannel, ServiceError>, PeerState),
    harness: Harness,
}

async fn run(mut relay_state: RelayState, mut responder: PeerState) -> Run {
    let mut h = Harness::new(&choreo_relayed_rendezvous::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (a, r, b) = (
        sessions.take(INITIATOR),
        sessions.take(RELAY),
        sessions.take(RESPONDER),
    );
    sessions.done();
    let mut alice = peer("alice", &["bob"]);
    let (initiated, relayed, responded) = tokio::join!(
        run_initiator(a, &mut alice, context(), id("bob")),
        run_relay(r, &mut relay_state),
        run_responder(b, &mut responder),
    );
    Run {
        initiator: (initiated, alice),
        relay: (relayed, relay_state),
        responder: (responded, responder),
        harness: h,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_peers_connect_through_a_granted_slot_that_is_then_released() {
    let run = run(relay(vec![context()], 2, 1), peer("bob", &["alice"])).await;
    let (Ok(a), Ok(b)) = (&run.initiator.0, &run.responder.0) else {
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
        &Ok(RelayOutcome {
            slot_id: a.slot_id,
            released: true
        })
    );
    assert_eq!(
        relay.active_slots,
        vec![[0; 16]],
        "only the other slot is left"
    );
    assert!(relay.journal.contains(&RelayFact::SlotGranted(a.slot_id)));
    assert!(relay.journal.contains(&RelayFact::SlotReleased(a.slot_id)));
    // Hello and reply, 32 bytes sealed with a 12-byte nonce and a 16-byte
    // tag, and two 32-byte confirmations: nothing the relay can read.
    assert_eq!(relay.forwarded_bytes, 2 * (12 + 32 + 16) + 2 * 32);
    assert_eq!(
        run.harness.context(RELAY).audit_log().len(),
        2,
        "slot granted and released are audited"
    );
    let journal = run.harness.node(INITIATOR).journal();
    assert_eq!(
        journal
            .count("RendezvousFact::RelayedChannelEstablished")
            .unwrap(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_slot_or_an_unknown_initiator_cancels_the_exchange_for_everyone() {
    let cases = [
        (
            relay(vec![context()], 1, 1),
            peer("bob", &["alice"]),
            RELAY,
            "no free slot",
        ),
        (
            relay(vec![], 4, 0),
            peer("bob", &["alice"]),
            RELAY,
            "context not relayed",
        ),
        (
            relay(vec![context()], 1, 0),
            peer("bob", &[]),
            RESPONDER,
            "unknown initiator",
        ),
    ];
    for (relay_state, responder, refuser, why) in cases {
        let started = Instant::now();
        let busy = relay_state.active_slots.clone();
        let run = run(relay_state, responder).await;
        assert_stopped_by(&run.initiator.0, INITIATOR, refuser, why);
        assert_stopped_by(&run.relay.0, RELAY, refuser, why);
        assert_stopped_by(&run.responder.0, RESPONDER, refuser, why);
        assert!(run.initiator.1.channels.is_empty() && run.responder.1.channels.is_empty());
        let relay = &run.relay.1;
        assert_eq!(relay.active_slots, busy, "no slot is left behind");
        if refuser == RELAY {
            assert_eq!(relay.forwarded_bytes, 0, "a refused slot forwards nothing");
            let refused = |f: &RelayFact| matches!(f, RelayFact::SlotRefused(_, r) if r == why);
            assert_eq!(relay.journal.count(refused), 1);
        }
        let journal = run.harness.node(INITIATOR).journal();
        assert_eq!(
            journal
                .count("RendezvousFact::RelayedChannelEstablished")
                .unwrap(),
            0
        );
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}
