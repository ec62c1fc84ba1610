//! Frames flow both ways between two and four nodes, in order per pair, over
//! exactly one connection per pair; a closing node writes what it holds first.

use choreo_runtime::transport::contract::{NodeId, Transport};
use choreo_runtime::transport::tls::LinkEvent;

use crate::harness::{cluster, event, expect_in_order, numbered, scratch, send, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_frames_both_ways_in_order() {
    let dir = scratch();
    let (cluster, mut listeners) = cluster(dir.path(), &["alice", "bob"]);
    let mut alice = start(&cluster, &mut listeners, "alice");
    let mut bob = start(&cluster, &mut listeners, "bob");
    let n = 300;
    let (a, b) = (alice.transport.clone(), bob.transport.clone());
    let sending = tokio::spawn(async move {
        for i in 0..n {
            send(&a, "bob", numbered("a", i)).await;
            send(&b, "alice", numbered("b", i)).await;
        }
    });
    expect_in_order(&mut bob.received, &[("alice", "a")], n).await;
    expect_in_order(&mut alice.received, &[("bob", "b")], n).await;
    sending.await.unwrap();
    let negotiated = alice
        .transport
        .negotiated(&NodeId::new("bob"))
        .expect("link up");
    assert_eq!(negotiated.version.to_string(), "1.0.0");
    assert!(negotiated.capabilities.contains("version_handshake"));
    assert_eq!(alice.transport.stats().frames_sent, u64::from(n));
    assert_eq!(bob.transport.stats().frames_received, u64::from(n));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_exchange_with_every_peer_over_one_connection_each() {
    let dir = scratch();
    let names = ["n1", "n2", "n3", "n4"];
    let (cluster, mut listeners) = cluster(dir.path(), &names);
    let mut nodes: Vec<_> = names
        .iter()
        .map(|n| start(&cluster, &mut listeners, n))
        .collect();
    let n = 60;
    let transports: Vec<_> = nodes.iter().map(|node| node.transport.clone()).collect();
    let sending = tokio::spawn(async move {
        for i in 0..n {
            for (s, from) in names.iter().enumerate() {
                for to in names.iter().filter(|t| *t != from) {
                    send(&transports[s], to, numbered(from, i)).await;
                }
            }
        }
    });
    for (k, node) in nodes.iter_mut().enumerate() {
        let senders: Vec<(&str, &str)> = names
            .iter()
            .filter(|s| **s != names[k])
            .map(|s| (*s, *s))
            .collect();
        expect_in_order(&mut node.received, &senders, n).await;
    }
    sending.await.unwrap();
    for node in &nodes {
        let stats = node.transport.stats();
        assert_eq!(
            stats.links_up,
            3,
            "{}: one link per peer",
            node.transport.local()
        );
        assert_eq!(stats.refused, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_sending_at_once_still_makes_one_connection() {
    let dir = scratch();
    let (cluster, mut listeners) = cluster(dir.path(), &["left", "right"]);
    // Both start and send before either link exists.
    let mut left = start(&cluster, &mut listeners, "left");
    let mut right = start(&cluster, &mut listeners, "right");
    let (l, r) = (left.transport.clone(), right.transport.clone());
    let (a, b) = tokio::join!(
        async move { send(&l, "right", "from left").await },
        async move { send(&r, "left", "from right").await },
    );
    let _ = (a, b);
    assert_eq!(&right.received.frame().await.1[..], b"from left");
    assert_eq!(&left.received.frame().await.1[..], b"from right");
    for node in [&mut left, &mut right] {
        event(&mut node.events, |e| {
            matches!(e, LinkEvent::Up { .. }).then_some(())
        })
        .await;
        let stats = node.transport.stats();
        assert_eq!(stats.links_up, 1);
        assert_eq!(stats.refused, 0);
        assert_eq!(stats.dial_failures, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shut_down_node_is_a_lost_link_and_refuses_sends() {
    let dir = scratch();
    let (cluster, mut listeners) = cluster(dir.path(), &["p", "q"]);
    let mut p = start(&cluster, &mut listeners, "p");
    let mut q = start(&cluster, &mut listeners, "q");
    send(&p.transport, "q", "hello").await;
    assert_eq!(&q.received.frame().await.1[..], b"hello");
    let weak = q.transport.downgrade();
    q.transport.shutdown();
    assert_eq!(p.received.down().await.0, NodeId::new("q"));
    let to_p = NodeId::new("p");
    assert_eq!(
        q.transport.reserve(&to_p).await.err(),
        Some(choreo_runtime::transport::contract::TransportError::Closed)
    );
    assert!(q.transport.send_now(&to_p, "x".into()).is_err());
    assert!(weak.upgrade().is_some(), "q itself is still held");
    drop(q);
    assert!(
        weak.upgrade().is_none(),
        "a weak handle does not keep it alive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_node_writes_everything_queued_before_its_links_close() {
    let dir = scratch();
    let (cluster, mut listeners) = cluster(dir.path(), &["p", "q"]);
    let p = start(&cluster, &mut listeners, "p");
    // q is not running yet: p's frames wait for the link (shutdown would drop them).
    let n = 200;
    for i in 0..n {
        send(&p.transport, "q", numbered("p", i)).await;
    }
    let closing = {
        let transport = p.transport.clone();
        tokio::spawn(async move { transport.close(crate::harness::PATIENCE).await })
    };
    let mut q = start(&cluster, &mut listeners, "q");
    expect_in_order(&mut q.received, &[("p", "p")], n).await;
    let (node, reason) = q.received.down().await;
    assert_eq!(node.as_str(), "p");
    assert!(reason.contains("closed by the peer"), "{reason}");
    assert!(closing.await.unwrap(), "every link closed in time");
    // Closed is closed: later sends are refused.
    assert!(p.transport.reserve(&NodeId::new("q")).await.is_err());
}
