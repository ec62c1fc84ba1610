//! Session metrics count what was really sent and received. Times are read
//! from tokio's paused clock, so they are exact and independent of the machine.

mod common;

use std::time::Duration;

use choreo_runtime::{
    ChoreographicEffects, EffectError, Effects, InMemoryNetwork, MemoryEndpoint, Peer, RoleContext,
    Roster, SendGuard, SessionId,
};
use common::{ceremony, guardian, initiator, role};

fn abc() -> (Vec<Effects<MemoryEndpoint>>, Vec<Peer>) {
    let roster = Roster::new().with_role("A").with_role("B").with_role("C");
    let net = InMemoryNetwork::new();
    let peers = roster.peers();
    let effects = peers
        .iter()
        .map(|p| Effects::new(net.endpoint(p.clone()).unwrap(), roster.clone()))
        .collect();
    (effects, peers)
}

#[tokio::test(start_paused = true)]
async fn byte_level_counts_bytes_waits_timeouts_and_duration() {
    let (mut fx, peers) = abc();
    for e in &mut fx {
        assert_eq!(e.start_session("Abc").unwrap(), SessionId(1));
    }
    let (a, b, c) = (&fx[0], &fx[1], &fx[2]);
    let waiting = async {
        let first = b.receive_from_role_bytes(&peers[0]).await.unwrap();
        for _ in 0..3 {
            b.receive_from_role_bytes(&peers[0]).await.unwrap();
        }
        first
    };
    let sending = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for len in [10, 20, 30] {
            a.send_to_role_bytes(&peers[1], vec![0; len]).await.unwrap();
        }
        a.broadcast_bytes(vec![1; 5]).await.unwrap();
    };
    let (first, ()) = tokio::join!(waiting, sending);
    assert_eq!(first.len(), 10);
    assert_eq!(
        c.receive_from_role_bytes(&peers[0]).await.unwrap(),
        vec![1; 5]
    );
    let timeout = c.receive_from_role_bytes(&peers[1]).await.unwrap_err();
    assert!(matches!(timeout, EffectError::Timeout { .. }));

    let ma = fx[0].end_session().unwrap();
    assert_eq!((ma.messages_sent, ma.bytes_sent), (5, 70));
    assert_eq!((ma.messages_received, ma.bytes_received), (0, 0));
    let mb = fx[1].end_session().unwrap();
    assert_eq!((mb.messages_received, mb.bytes_received), (4, 65));
    assert_eq!(mb.receive_wait.count, 4);
    assert_eq!(mb.receive_wait.max, Duration::from_secs(1));
    assert_eq!(mb.receive_wait.min, Duration::ZERO);
    let mc = fx[2].end_session().unwrap();
    assert_eq!(
        (mc.messages_received, mc.bytes_received, mc.timeouts),
        (1, 5, 1)
    );
    assert_eq!(mc.duration, Duration::from_secs(1) + fx[2].timeout());
    assert_eq!(mc.protocol, "Abc");
    assert_eq!(fx[2].start_session("Abc").unwrap(), SessionId(2));
    assert_eq!(fx[2].metrics().unwrap().messages_received, 0);
}

#[tokio::test(start_paused = true)]
async fn adapter_metrics_match_the_frames_exchanged() {
    let (net, roster) = (InMemoryNetwork::new(), ceremony(1));
    let mut init = role(&net, &roster, initiator(), RoleContext::new());
    let mut g = role(&net, &roster, guardian(0), RoleContext::new());
    init.send(&guardian(0), "Ping", &SendGuard::NONE, &7u32)
        .await
        .unwrap();
    assert_eq!(g.recv::<u32>(&initiator(), "Ping").await.unwrap(), 7);
    g.send(&initiator(), "Pong", &SendGuard::NONE, "ok")
        .await
        .unwrap();
    assert_eq!(
        init.recv::<String>(&guardian(0), "Pong").await.unwrap(),
        "ok"
    );
    tokio::time::advance(Duration::from_millis(250)).await;

    // Frames: label length, label, no journal (0), payload.
    let ping = [4, b'P', b'i', b'n', b'g', 0, 7].len() as u64;
    let pong = [4, b'P', b'o', b'n', b'g', 0, 2, b'o', b'k'].len() as u64;
    let mi = init.finish().unwrap();
    let mg = g.finish().unwrap();
    assert_eq!((mi.messages_sent, mi.bytes_sent), (1, ping));
    assert_eq!((mi.messages_received, mi.bytes_received), (1, pong));
    assert_eq!((mg.messages_sent, mg.bytes_sent), (1, pong));
    assert_eq!((mg.messages_received, mg.bytes_received), (1, ping));
    assert_eq!((mi.timeouts, mg.timeouts), (0, 0));
    assert_eq!(mi.duration, Duration::from_millis(250));
}
