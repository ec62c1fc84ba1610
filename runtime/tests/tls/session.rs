//! Sessions of the runtime's `Node` over the TLS transport: the node's
//! `Router` is the transport's `Inbound`. A session completes across two
//! nodes, and a session waiting on a node whose transport stops ends with a
//! typed "peer gone" error instead of hanging.

use choreo_runtime::{
    Digest, ErrorKind, Node, NodeOptions, Peer, Protocol, RoleContext, RoleDecl, Roster, Router,
    SendGuard, TlsTransport,
};

use crate::harness::{cluster, scratch};

static INVITE: Protocol = Protocol {
    name: "Invite",
    digest: Digest([3; 16]),
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

/// The roster's default node names are the role names.
fn nodes(dir: &std::path::Path) -> (Node<TlsTransport>, Node<TlsTransport>, TlsTransport) {
    let (cluster, mut listeners) = cluster(dir, &["Receiver", "Sender"]);
    let mut node = |name: &str| {
        let config = cluster.config(name).unwrap().clone();
        let router = Router::new(config.name.clone(), config.max_frame);
        let at = listeners
            .iter()
            .position(|(n, _)| n.as_str() == name)
            .unwrap();
        let listener = listeners.remove(at).1;
        let options = NodeOptions {
            max_frame: config.max_frame,
            ..NodeOptions::default()
        };
        let transport =
            TlsTransport::start_with_listener(config, listener, router.clone()).unwrap();
        (Node::new(transport.clone(), router, options), transport)
    };
    let (sender, receiver) = (node("Sender"), node("Receiver"));
    (sender.0, receiver.0, receiver.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_between_two_nodes_over_tls() {
    let dir = scratch();
    let (alice, bob, _) = nodes(dir.path());
    let roster = Roster::new().with_role("Sender").with_role("Receiver");
    let id = alice.new_session_id();
    let (mut ca, mut cb) = (RoleContext::new(), RoleContext::new());
    let mut a = alice
        .session(&INVITE, id, &roster, Peer::role("Sender"), &mut ca)
        .unwrap();
    let mut b = bob
        .session(&INVITE, id, &roster, Peer::role("Receiver"), &mut cb)
        .unwrap();
    a.send(Peer::role("Receiver"), 0, "hello over TLS")
        .await
        .unwrap();
    let offer: String = b.recv(Peer::role("Sender"), 0).await.unwrap();
    assert_eq!(offer, "hello over TLS");
    b.send(Peer::role("Sender"), 1, &7u32).await.unwrap();
    let thanks: u32 = a.recv(Peer::role("Receiver"), 1).await.unwrap();
    assert_eq!(thanks, 7);
    assert_eq!(a.complete::<String>(Ok(())).unwrap().messages_sent, 1);
    assert_eq!(b.complete::<String>(Ok(())).unwrap().messages_received, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_waiting_on_a_stopped_node_ends_with_peer_gone() {
    let dir = scratch();
    let (alice, bob, bob_transport) = nodes(dir.path());
    let roster = Roster::new().with_role("Sender").with_role("Receiver");
    let id = alice.new_session_id();
    let (mut ca, mut cb) = (RoleContext::new(), RoleContext::new());
    let mut a = alice
        .session(&INVITE, id, &roster, Peer::role("Sender"), &mut ca)
        .unwrap();
    let mut b = bob
        .session(&INVITE, id, &roster, Peer::role("Receiver"), &mut cb)
        .unwrap();
    a.send(Peer::role("Receiver"), 0, "hello").await.unwrap();
    let _: String = b.recv(Peer::role("Sender"), 0).await.unwrap();
    // The receiver's node goes away (its session never answers, never cancels).
    bob_transport.shutdown();
    let err = a.recv::<u32>(Peer::role("Receiver"), 1).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::PeerGone { .. }), "{err:?}");
    drop(b);
}
