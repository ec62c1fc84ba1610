//! RendezvousExchange through the rendezvous service: a negotiated channel
//! that both peers record identically, and each way it can fail (versions,
//! an expired descriptor, an unexpected peer, no common transport).

mod common;

use choreo_runtime::{Peer, Roster};
use choreo_services::crypto::{self, Digest};
use choreo_services::rendezvous::rendezvous_exchange::{
    run_initiator, run_responder, RendezvousFact, RendezvousOutcome, RendezvousState, VersionInfo,
};
use common::{session, take};

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

async fn exchange(
    mut initiator: RendezvousState,
    mut responder: RendezvousState,
    target: Digest,
) -> (
    RendezvousOutcome,
    RendezvousState,
    RendezvousOutcome,
    RendezvousState,
) {
    let roster = Roster::new().with_role("Initiator").with_role("Responder");
    let caps: [(&str, &[&str]); 2] = [
        ("Initiator", &["rendezvous:connect"]),
        ("Responder", &["rendezvous:respond"]),
    ];
    let mut adapters = session(choreo_rendezvous_exchange::PROTOCOL, &roster, &caps);
    let mut b = take(&mut adapters, &Peer::role("Responder"));
    let task = tokio::spawn(async move {
        let outcome = run_responder(&mut b, &mut responder)
            .await
            .expect("responder runs");
        (outcome, responder)
    });
    let mut a = take(&mut adapters, &Peer::role("Initiator"));
    let outcome = run_initiator(&mut a, &mut initiator, target)
        .await
        .expect("initiator runs");
    // The annotation records the fact on the final send, whatever its payload says.
    assert_eq!(
        a.context()
            .journal()
            .count("RendezvousFact::ChannelEstablished"),
        1
    );
    let (responded, responder) = task.await.expect("no responder panic");
    (outcome, initiator, responded, responder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatible_peers_record_the_same_channel() {
    let (a, alice, b, bob) = exchange(alice(), bob(), id("bob")).await;
    let (RendezvousOutcome::Established(ca), RendezvousOutcome::Established(cb)) = (a, b) else {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_leaves_both_sides_without_a_channel() {
    let mut strict = alice();
    strict.versions.min_version = 3;
    let mut late = bob();
    late.now = 5_000;
    let mut udp_only = bob();
    udp_only.addresses = vec!["udp://bob.example:7000".into()];
    let cases = [
        (
            strict,
            bob(),
            id("bob"),
            "no common version: peer speaks 1..=2",
        ),
        (alice(), late, id("bob"), "descriptor has expired"),
        (
            alice(),
            bob(),
            id("carol"),
            "descriptor of an unexpected peer",
        ),
        (alice(), udp_only, id("bob"), "no common transport"),
    ];
    for (initiator, responder, target, why) in cases {
        let (a, alice, b, bob) = exchange(initiator, responder, target).await;
        assert_eq!(a, RendezvousOutcome::Failed(why.into()), "initiator: {why}");
        assert_eq!(b, RendezvousOutcome::Failed(why.into()), "responder: {why}");
        assert!(
            alice.channels.is_empty() && bob.channels.is_empty(),
            "{why}"
        );
        assert!(alice.journal.contains(&RendezvousFact::Failed(why.into())));
    }
}
