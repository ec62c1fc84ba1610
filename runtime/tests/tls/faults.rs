//! Network faults between two nodes, through a fault-injecting proxy: the
//! link goes down (the `Inbound` is told), and later frames get through after
//! the dialing side reconnects.

use bytes::Bytes;
use choreo_runtime::transport::contract::NodeId;

use crate::harness::{
    cluster, expect_in_order, numbered, scratch, send, start, start_config, Node,
};
use crate::proxy::{Mode, Proxy};

/// `a` dials `b` through a proxy.
async fn through_proxy(dir: &std::path::Path) -> (Node, Node, Proxy) {
    let (cluster, mut listeners) = cluster(dir, &["a", "b"]);
    let b = start(&cluster, &mut listeners, "b");
    let proxy = Proxy::start(b.transport.local_addr()).await;
    let mut config = cluster.config("a").unwrap().clone();
    config.peers[0].address = Some(proxy.address.to_string());
    let a = start_config(config, &mut listeners, "a");
    (a, b, proxy)
}

async fn exchange(a: &mut Node, b: &mut Node, tag: &str, n: u32) {
    for i in 0..n {
        send(&a.transport, "b", numbered(tag, i)).await;
        send(&b.transport, "a", numbered(tag, i)).await;
    }
    expect_in_order(&mut b.received, &[("a", tag)], n).await;
    expect_in_order(&mut a.received, &[("b", tag)], n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_detects_a_silently_vanished_peer_then_the_link_recovers() {
    let dir = scratch();
    let (mut a, mut b, proxy) = through_proxy(dir.path()).await;
    exchange(&mut a, &mut b, "before", 20).await;
    // The proxy keeps both sockets open but forwards nothing: no FIN, no RST.
    proxy.set(Mode::Blackhole);
    let (node, reason) = a.received.down().await;
    assert_eq!(node.as_str(), "b");
    assert!(
        reason.starts_with("keep-alive expired: nothing received for 700 ms"),
        "{reason}"
    );
    let (node, reason) = b.received.down().await;
    assert_eq!(node.as_str(), "a");
    assert!(reason.starts_with("keep-alive expired"), "{reason}");
    proxy.set(Mode::Forward);
    exchange(&mut a, &mut b, "after", 20).await;
    assert!(proxy.accepted() >= 2, "a dialed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_reported_and_redialed() {
    let dir = scratch();
    let (mut a, mut b, proxy) = through_proxy(dir.path()).await;
    exchange(&mut a, &mut b, "before", 10).await;
    proxy.drop_connections();
    assert_eq!(a.received.down().await.0, NodeId::new("b"));
    assert_eq!(b.received.down().await.0, NodeId::new("a"));
    exchange(&mut a, &mut b, "after", 10).await;
    assert_eq!(a.transport.stats().links_up, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_link_still_delivers_in_order() {
    let dir = scratch();
    let (mut a, mut b, proxy) = through_proxy(dir.path()).await;
    exchange(&mut a, &mut b, "fast", 5).await;
    // Well under the keep-alive timeout: slow, not dead.
    proxy.set(Mode::Delay(std::time::Duration::from_millis(40)));
    exchange(&mut a, &mut b, "slow", 30).await;
    assert_eq!(a.transport.stats().links_up, 1, "no reconnection");
    assert!(a.received.downs.try_recv().is_err(), "no link-down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_cut_in_half_takes_the_link_down_then_it_recovers() {
    let dir = scratch();
    let (mut a, mut b, proxy) = through_proxy(dir.path()).await;
    exchange(&mut a, &mut b, "before", 10).await;
    proxy.set(Mode::CutNext);
    send(&a.transport, "b", Bytes::from(vec![1u8; 4000])).await;
    let (node, reason) = b.received.down().await;
    assert_eq!(node.as_str(), "a");
    assert!(!reason.is_empty());
    assert_eq!(a.received.down().await.0, NodeId::new("b"));
    // Whatever was cut never reaches b's inbound as a partial frame.
    while let Ok((_, frame)) = b.received.frames.try_recv() {
        assert_eq!(frame.len(), 4000, "only whole frames are delivered");
    }
    exchange(&mut a, &mut b, "after", 10).await;
}
