//! Sessions of the runtime's `Node` over TLS when the network misbehaves,
//! and bad input at the session level.
//!
//! Network faults go through the fault-injecting proxy between node `a`
//! (the Sender's node, which dials) and node `b` (the Receiver's): a dropped
//! connection, a frame cut in half and a silently vanished link end every
//! session in flight with a typed "peer gone" error on both sides, and a
//! later session succeeds once `a` has dialed again; a delayed link only
//! slows sessions down. At the session level, the router drops and counts a
//! frame of a session nobody joined, a frame whose sender claims a role that
//! runs on another node, and a data frame that is not a session frame; the
//! node goes on serving.

use std::path::Path;
use std::time::Duration;

use choreo_runtime::transport::contract::NodeId;
use choreo_runtime::transport::tls::testing::Cluster;
use choreo_runtime::transport::tls::wire::Frame;
use choreo_runtime::{
    Digest, ErrorKind, LinkEvent, Node, NodeConfig, NodeOptions, NodeStats, Peer, Protocol,
    RoleContext, RoleDecl, Roster, Router, SendGuard, SessionId, TlsTransport,
};
use futures_util::SinkExt;

use crate::harness::{cluster, handshake_as, nonce, raw_client, scratch, PATIENCE};
use crate::proxy::{Mode, Proxy};

/// Offer, then Thanks, as often as a test likes.
static CHAT: Protocol = Protocol {
    name: "Chat",
    digest: Digest([4; 16]),
    roles: &[
        RoleDecl {
            name: "Sender",
            family: false,
        },
        RoleDecl {
            name: "Receiver",
            family: false,
        },
    ],
    labels: &["Offer", "Thanks"],
    capabilities: &[],
    facts: &[],
    guards: &[SendGuard::plain(0), SendGuard::plain(1)],
};

const SENDER: Peer = Peer::role("Sender");
const RECEIVER: Peer = Peer::role("Receiver");
/// The sessions' receive timeout: longer than any fault takes to show.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The Sender runs on `a`, the Receiver on `b`.
fn roster() -> Roster {
    Roster::new()
        .with_role("Sender")
        .with_role("Receiver")
        .bind("Sender", None, NodeId::new("a"))
        .bind("Receiver", None, NodeId::new("b"))
}

/// A node of sessions on `config` and its listener.
fn node(config: NodeConfig, listener: std::net::TcpListener) -> (Node<TlsTransport>, TlsTransport) {
    let router = Router::new(config.name.clone(), config.max_frame);
    let options = NodeOptions {
        max_frame: config.max_frame,
        timeout: TIMEOUT,
        ..NodeOptions::default()
    };
    let transport = TlsTransport::start_with_listener(config, listener, router.clone()).unwrap();
    (Node::new(transport.clone(), router, options), transport)
}

fn take(listeners: &mut Vec<(NodeId, std::net::TcpListener)>, name: &str) -> std::net::TcpListener {
    let at = listeners
        .iter()
        .position(|(n, _)| n.as_str() == name)
        .unwrap();
    listeners.remove(at).1
}

struct Pair {
    a: Node<TlsTransport>,
    b: Node<TlsTransport>,
    a_transport: TlsTransport,
    proxy: Proxy,
}

/// `a` dials `b` through a proxy.
async fn through_proxy(dir: &Path) -> Pair {
    let (cluster, mut listeners) = cluster(dir, &["a", "b"]);
    let (b, b_transport) = node(
        cluster.config("b").unwrap().clone(),
        take(&mut listeners, "b"),
    );
    let proxy = Proxy::start(b_transport.local_addr()).await;
    let mut config = cluster.config("a").unwrap().clone();
    config.peers[0].address = Some(proxy.address.to_string());
    let (a, a_transport) = node(config, take(&mut listeners, "a"));
    Pair {
        a,
        b,
        a_transport,
        proxy,
    }
}

/// One whole session: `rounds` offers, each thanked.
async fn chat(a: &Node<TlsTransport>, b: &Node<TlsTransport>, rounds: u32) {
    let roster = roster();
    let id = a.new_session_id();
    let (mut ca, mut cb) = (RoleContext::new(), RoleContext::new());
    let mut s = a.session(&CHAT, id, &roster, SENDER, &mut ca).unwrap();
    let mut r = b.session(&CHAT, id, &roster, RECEIVER, &mut cb).unwrap();
    let exchange = async {
        for i in 0..rounds {
            s.send(RECEIVER, 0, &format!("offer {i}")).await?;
            let offer: String = r.recv(SENDER, 0).await?;
            assert_eq!(offer, format!("offer {i}"));
            r.send(SENDER, 1, &i).await?;
            let thanks: u32 = s.recv(RECEIVER, 1).await?;
            assert_eq!(thanks, i);
        }
        Ok::<(), choreo_runtime::Error>(())
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the session in time")
        .expect("the session completes");
    assert_eq!(s.finish().messages_sent, u64::from(rounds));
    assert_eq!(r.finish().messages_received, u64::from(rounds));
}

#[track_caller]
fn assert_gone<T: std::fmt::Debug>(result: Result<T, choreo_runtime::Error>, who: &str) {
    match result {
        Err(e) => assert!(matches!(e.kind(), ErrorKind::PeerGone { .. }), "{who}: {e}"),
        Ok(v) => panic!("{who}: expected peer gone, got {v:?}"),
    }
}

/// Runs one session that `fault` breaks after its first offer, with both
/// sides then waiting for the other's next message; both must end with
/// "peer gone", and a later session must succeed.
async fn a_fault_ends_the_session_in_flight(fault: impl FnOnce(&Proxy)) {
    let dir = scratch();
    let pair = through_proxy(dir.path()).await;
    chat(&pair.a, &pair.b, 3).await;
    let roster = roster();
    let id = pair.a.new_session_id();
    let (mut ca, mut cb) = (RoleContext::new(), RoleContext::new());
    let mut s = pair.a.session(&CHAT, id, &roster, SENDER, &mut ca).unwrap();
    let mut r = pair
        .b
        .session(&CHAT, id, &roster, RECEIVER, &mut cb)
        .unwrap();
    s.send(RECEIVER, 0, "first").await.unwrap();
    let _: String = r.recv(SENDER, 0).await.unwrap();
    fault(&pair.proxy);
    let (thanks, offer) = tokio::time::timeout(PATIENCE, async {
        tokio::join!(s.recv::<u32>(RECEIVER, 1), r.recv::<String>(SENDER, 0))
    })
    .await
    .expect("both sides end in time");
    assert_gone(thanks, "the Sender");
    assert_gone(offer, "the Receiver");
    drop((s, r));
    // `a` dials again; a new session goes through.
    pair.proxy.set(Mode::Forward);
    chat(&pair.a, &pair.b, 3).await;
    assert!(pair.a_transport.stats().links_up >= 2, "a dialed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_ends_the_session_in_flight_and_the_next_succeeds() {
    a_fault_ends_the_session_in_flight(Proxy::drop_connections).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_cut_in_half_ends_the_session_in_flight_and_the_next_succeeds() {
    // The next chunk `a` sends is cut: a ping, or the offer below.
    a_fault_ends_the_session_in_flight(|proxy| proxy.set(Mode::CutNext)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_vanished_link_ends_the_session_in_flight_within_the_keep_alive() {
    // Keep-alive (700 ms in these tests) ends both sides well before the
    // sessions' 15 s receive timeout, which would say `Timeout` instead.
    a_fault_ends_the_session_in_flight(|proxy| proxy.set(Mode::Blackhole)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_link_only_slows_sessions_down() {
    let dir = scratch();
    let pair = through_proxy(dir.path()).await;
    chat(&pair.a, &pair.b, 2).await;
    // Well under the keep-alive timeout: slow, not dead.
    pair.proxy.set(Mode::Delay(Duration::from_millis(40)));
    chat(&pair.a, &pair.b, 5).await;
    assert_eq!(pair.a_transport.stats().links_up, 1, "no reconnection");
}

/// Waits until `node`'s drop counters satisfy `done`.
async fn stats_until(node: &Node<TlsTransport>, done: impl Fn(&NodeStats) -> bool) -> NodeStats {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let stats = node.stats();
            if done(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the counters in time")
}

/// Two nodes (and a third, `m`, when asked) that know each other, directly.
fn direct(dir: &Path, names: &[&str]) -> Vec<Node<TlsTransport>> {
    let (cluster, mut listeners) = cluster(dir, names);
    names
        .iter()
        .map(|n| node(cluster.config(n).unwrap().clone(), take(&mut listeners, n)).0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_a_session_nobody_joined_is_dropped_and_counted() {
    let dir = scratch();
    let nodes = direct(dir.path(), &["a", "b"]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let roster = roster();
    let mut ctx = RoleContext::new();
    // `b` never joins this session and listens for none.
    let mut lonely = a
        .session(&CHAT, a.new_session_id(), &roster, SENDER, &mut ctx)
        .unwrap();
    lonely.send(RECEIVER, 0, "anyone?").await.unwrap();
    let stats = stats_until(b, |s| s.unknown_session == 1).await;
    assert_eq!(stats.forged + stats.malformed, 0);
    drop(lonely);
    assert_eq!(b.running(), 0);
    chat(a, b, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_a_role_that_runs_elsewhere_is_refused_by_the_router() {
    let dir = scratch();
    let nodes = direct(dir.path(), &["a", "b", "m"]);
    let (a, b, m) = (&nodes[0], &nodes[1], &nodes[2]);
    let id = SessionId([7; 16]);
    let (mut ca, mut cb, mut cm) = (RoleContext::new(), RoleContext::new(), RoleContext::new());
    let mut r = b.session(&CHAT, id, &roster(), RECEIVER, &mut cb).unwrap();
    // `m` is a known node with a valid certificate, but in `b`'s roster the
    // Sender runs on `a`: `m`'s frames claiming to be the Sender are forged.
    let claimed = Roster::new()
        .with_role("Sender")
        .with_role("Receiver")
        .bind("Sender", None, NodeId::new("m"))
        .bind("Receiver", None, NodeId::new("b"));
    let mut forger = m.session(&CHAT, id, &claimed, SENDER, &mut cm).unwrap();
    forger
        .send(RECEIVER, 0, "from the Sender, honest")
        .await
        .unwrap();
    stats_until(b, |s| s.forged == 1).await;
    // The real Sender's offer is what the session receives.
    let mut s = a.session(&CHAT, id, &roster(), SENDER, &mut ca).unwrap();
    s.send(RECEIVER, 0, "the real offer").await.unwrap();
    let offer: String = r.recv(SENDER, 0).await.unwrap();
    assert_eq!(offer, "the real offer");
    assert_eq!(b.stats().forged, 1);
    forger.finish();
    s.finish();
    r.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_frame_that_is_not_a_session_frame_is_dropped_and_counted() {
    let dir = scratch();
    let (cluster, mut listeners): (Cluster, _) = cluster(dir.path(), &["a", "b"]);
    let (b, b_transport) = node(
        cluster.config("b").unwrap().clone(),
        take(&mut listeners, "b"),
    );
    // The test plays `a` by hand: its certificate, a correct handshake, then
    // data frames of garbage.
    let mut raw = raw_client(dir.path(), "a", "b", b_transport.local_addr())
        .await
        .unwrap();
    handshake_as(&mut raw, "a", nonce()).await;
    for garbage in [&b"\x00\x01garbage"[..], &[0xff; 300][..], &[][..]] {
        raw.send(Frame::data(bytes::Bytes::copy_from_slice(garbage)))
            .await
            .unwrap();
    }
    let stats = stats_until(&b, |s| s.malformed == 3).await;
    assert_eq!(stats.unknown_session + stats.forged, 0);
    // The link stayed up through the garbage; it goes down when the test
    // hangs up (and only then may sessions with `a` start, or they would
    // see that link go).
    let mut events = b_transport.events();
    drop(raw);
    crate::harness::event(&mut events, |e| match e {
        LinkEvent::Down { node, .. } if node.as_str() == "a" => Some(()),
        _ => None,
    })
    .await;
    // The real `a` connects and runs a session with `b`.
    let (a, _) = node(
        cluster.config("a").unwrap().clone(),
        take(&mut listeners, "a"),
    );
    chat(&a, &b, 2).await;
}
