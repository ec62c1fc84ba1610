//! RendezvousExchange through the rendezvous service: a negotiated channel
//! that both peers record identically; incompatible versions, which end the
//! exchange on the protocol's `Incompatible` branch with no channel; and
//! each check that makes a side refuse (an expired descriptor, an unexpected
//! peer, no common transport), which cancels the exchange for both at once.

mod common;

use choreo_runtime::Peer;
use choreo_services::crypto::{self, Digest};
use choreo_services::rendezvous::rendezvous_exchange::{
    run_initiator, run_responder, RendezvousFact, RendezvousOutcome, RendezvousState, VersionInfo,
};
use choreo_services::ServiceError;
use common::{assert_stopped_by, Harness, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Initiator", &["rendezvous:connect"]),
    ("Responder", &["rendezvous:respond"]),
];
const INITIATOR: Peer = Peer::role("Initiator");
const RESPONDER: Peer = Peer::role("Responder");

fn id(name: &str) -> Digest {
    crypto::digest("peer", &[name.as_bytes()])
}

fn peer(
    name: &str,
    version: u32,
    min_version: u32,
    capabilities: &[&str],
    addresses: &[&str],
) -> RendezvousState {
    RendezvousState {
        peer_id: id(name),
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        versions: VersionInfo {
            version,
            min_version,
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        },
        secret: crypto::digest("secret", &[name.as_bytes()]),
        context_key: crypto::digest("rendezvous context", &[b"alice+bob"]),
        epoch: 9,
        descriptor_ttl: 300,
        now: 1_000,
        channels: Vec::new(),
        journal: Default::default(),
    }
}

fn alice() -> RendezvousState {
    let caps = ["ceremony_supersession", "fact_journal", "version_handshake"];
    peer(
        "alice",
        3,
        1,
        &caps,
        &["quic://10.0.0.1:4433", "tcp://10.0.0.1:8000"],
    )
}

fn bob() -> RendezvousState {
    peer(
        "bob",
        2,
        1,
        &["version_handshake", "fact_journal"],
        &["tcp://bob.example:9000", "quic://bob.example:4433"],
    )
}

type Side = (Result<RendezvousOutcome, ServiceError>, RendezvousState);

/// Runs one exchange between the two states, both roles at once.
async fn exchange(
    mut initiator: RendezvousState,
    mut responder: RendezvousState,
    target: Digest,
) -> (Side, Side, Harness) {
    let mut h = Harness::new(&choreo_rendezvous_exchange::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (a, b) = (sessions.take(INITIATOR), sessions.take(RESPONDER));
    sessions.done();
    let (initiated, responded) = tokio::join!(
        run_initiator(a, &mut initiator, target),
        run_responder(b, &mut responder),
    );
    ((initiated, initiator), (responded, responder), h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatible_peers_record_the_same_channel() {
    let ((a, alice), (b, bob), h) = exchange(alice(), bob(), id("bob")).await;
    let (Ok(RendezvousOutcome::Established(ca)), Ok(RendezvousOutcome::Established(cb))) = (a, b)
    else {
        panic!("both sides establish the channel");
    };
    assert_eq!(ca.channel_id, cb.channel_id);
    assert_ne!(ca.channel_id, [0; 32]);
    assert_eq!((ca.peer_id, cb.peer_id), (id("bob"), id("alice")));
    // Version 2 is the minimum of both; bob prefers tcp and alice offers it.
    assert_eq!(
        (ca.version, ca.address.as_str()),
        (2, "tcp://bob.example:9000")
    );
    assert_eq!(
        (cb.version, cb.address.as_str(), cb.epoch),
        (2, "tcp://bob.example:9000", 9)
    );
    assert_eq!(alice.channels, vec![ca.clone()]);
    assert_eq!(bob.channels, vec![cb]);
    assert!(alice
        .journal
        .contains(&RendezvousFact::ChannelEstablished(ca)));
    let journal = h.node(INITIATOR).journal();
    assert_eq!(
        journal.count("RendezvousFact::ChannelEstablished").unwrap(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn incompatible_versions_end_the_exchange_before_any_descriptor() {
    let started = Instant::now();
    let mut strict = alice();
    strict.versions.min_version = 3;
    let ((a, alice), (b, bob), h) = exchange(strict, bob(), id("bob")).await;
    let why = "no common version: peer speaks 1..=2";
    let expected = RendezvousOutcome::Incompatible {
        reason: why.into(),
        version: 2,
        min_version: 1,
    };
    assert_eq!(a, Ok(expected.clone()), "the initiator learns why");
    assert_eq!(b, Ok(expected));
    assert!(alice.channels.is_empty() && bob.channels.is_empty());
    assert!(alice
        .journal
        .contains(&RendezvousFact::Incompatible(why.into())));
    // Nothing after the version answer was sent: no descriptor leaked, no
    // channel recorded by the annotation of the last message.
    assert_eq!(h.node(INITIATOR).journal().len().unwrap(), 0);
    let leaked = h.context(INITIATOR).ledger().sends();
    assert_eq!(leaked, 0, "the initiator's descriptor never went out");
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_refusing_side_cancels_the_exchange_for_both_at_once() {
    let mut late = bob();
    late.now = 5_000;
    let mut udp_only = bob();
    udp_only.addresses = vec!["udp://bob.example:7000".into()];
    let cases = [
        (late, id("bob"), RESPONDER, "descriptor has expired"),
        (
            bob(),
            id("carol"),
            INITIATOR,
            "descriptor of an unexpected peer",
        ),
        (udp_only, id("bob"), RESPONDER, "no common transport"),
    ];
    for (responder, target, refuser, why) in cases {
        let started = Instant::now();
        let ((a, alice), (b, bob), h) = exchange(alice(), responder, target).await;
        assert_stopped_by(&a, INITIATOR, refuser, why);
        assert_stopped_by(&b, RESPONDER, refuser, why);
        assert!(
            alice.channels.is_empty() && bob.channels.is_empty(),
            "{why}"
        );
        assert!(
            alice.journal.contains(&RendezvousFact::Failed(why.into())),
            "{why}"
        );
        assert!(
            bob.journal.contains(&RendezvousFact::Failed(why.into())),
            "{why}"
        );
        let journal = h.node(INITIATOR).journal();
        assert_eq!(
            journal.count("RendezvousFact::ChannelEstablished").unwrap(),
            0,
            "{why}"
        );
        assert!(started.elapsed() < TIMEOUT, "{why}: a timeout elapsed");
    }
}
