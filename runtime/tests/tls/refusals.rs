//! Bad peers are refused with a typed error and a log line, and the node
//! keeps serving its other peers. Node `b` runs for real with `c`; the tests
//! play `a` (or a stranger) by hand over raw TLS.

use std::path::Path;

use bytes::Bytes;
use choreo_runtime::transport::contract::{NodeId, Transport, TransportError};
use choreo_runtime::transport::tls::handshake::{Answer, Incompatibility, VersionPolicy};
use choreo_runtime::transport::tls::testing::Cluster;
use choreo_runtime::transport::tls::wire::{Frame, DATA, HELLO};
use choreo_runtime::transport::tls::{GeneratedIdentity, LinkEvent, TlsError};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::harness::{
    capture_logs, cluster, event, expect_log, handshake_as, nonce, raw_client, read_answer,
    read_hello, refusal, scratch, send, send_hello, start, Node,
};

/// Nodes `b` and `c` running; `a` only configured (the test plays it).
fn trio(dir: &Path) -> (Cluster, Node, Node) {
    capture_logs();
    let (cluster, mut listeners) = cluster(dir, &["a", "b", "c"]);
    let b = start(&cluster, &mut listeners, "b");
    let c = start(&cluster, &mut listeners, "c");
    (cluster, b, c)
}

/// `b` and `c` still exchange frames both ways.
async fn still_serving(b: &mut Node, c: &mut Node) {
    send(&b.transport, "c", "ping from b").await;
    send(&c.transport, "b", "ping from c").await;
    assert_eq!(
        c.received.frame().await,
        (NodeId::new("b"), Bytes::from("ping from b"))
    );
    assert_eq!(
        b.received.frame().await,
        (NodeId::new("c"), Bytes::from("ping from c"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_are_refused_at_the_tls_layer() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let mut tcp = tokio::net::TcpStream::connect(b.transport.local_addr())
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n\x00\xff\x13\x37garbage")
        .await
        .unwrap();
    let err = refusal(&mut b.events).await;
    assert!(matches!(err, TlsError::Tls(_)), "{err:?}");
    expect_log(&["connection refused", "node=b", "TLS"]).await;
    still_serving(&mut b, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_inside_tls_is_a_malformed_handshake() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let addr = b.transport.local_addr();
    let mut raw = raw_client(dir.path(), "a", "b", addr).await.unwrap();
    raw.send(Frame {
        kind: HELLO,
        payload: Bytes::from_static(b"\xff\xff\xff\xff\xff not postcard"),
    })
    .await
    .unwrap();
    let err = refusal(&mut b.events).await;
    assert!(matches!(err, TlsError::Malformed(_)), "{err:?}");
    // A data frame before any handshake is out of place.
    let mut raw = raw_client(dir.path(), "a", "b", addr).await.unwrap();
    raw.send(Frame {
        kind: DATA,
        payload: Bytes::from_static(b"too early"),
    })
    .await
    .unwrap();
    let err = refusal(&mut b.events).await;
    assert_eq!(err, TlsError::UnexpectedFrame { kind: DATA });
    expect_log(&["connection refused", "node=b", "unexpected frame type 0x10"]).await;
    assert_eq!(b.transport.stats().frames_received, 0);
    still_serving(&mut b, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_takes_the_link_down() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let max = b.transport.max_frame();
    let mut raw = raw_client(dir.path(), "a", "b", b.transport.local_addr())
        .await
        .unwrap();
    handshake_as(&mut raw, "a", nonce()).await;
    raw.codec_mut().set_max(max + 100);
    raw.send(Frame::data(Bytes::from_static(b"fits")))
        .await
        .unwrap();
    // b may reset the connection before the client has written it all.
    let _ = raw.send(Frame::data(Bytes::from(vec![7u8; max + 1]))).await;
    assert_eq!(
        b.received.frame().await,
        (NodeId::new("a"), Bytes::from("fits"))
    );
    let (node, reason) = b.received.down().await;
    assert_eq!(node.as_str(), "a");
    assert!(
        reason.contains(&format!("larger than the maximum of {max} bytes")),
        "{reason}"
    );
    expect_log(&["link down", "node=b", "peer=a", "larger than the maximum"]).await;
    // Nor does this node send one.
    let too_big = Bytes::from(vec![0u8; max + 1]);
    assert_eq!(
        b.transport.send_now(&NodeId::new("c"), too_big),
        Err(TransportError::FrameTooLarge { size: max + 1, max })
    );
    still_serving(&mut b, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_certificate_is_refused() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let stranger = GeneratedIdentity::generate("mallory").unwrap();
    stranger
        .write(
            &dir.path().join("mallory.pem"),
            &dir.path().join("mallory.key"),
        )
        .unwrap();
    // TLS 1.3: the client may finish before the server refuses its certificate.
    if let Ok(mut raw) = raw_client(dir.path(), "mallory", "b", b.transport.local_addr()).await {
        let _ = send_hello(&mut raw, "a", &VersionPolicy::default(), nonce()).await;
        assert!(
            !matches!(raw.next().await, Some(Ok(_))),
            "nothing readable after refusal"
        );
    }
    let err = refusal(&mut b.events).await;
    assert_eq!(
        err,
        TlsError::UnknownCertificate {
            fingerprint: stranger.fingerprint
        }
    );
    expect_log(&[
        "connection refused",
        "node=b",
        &stranger.fingerprint.to_string(),
    ])
    .await;
    still_serving(&mut b, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_another_nodes_name_is_refused() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let addr = b.transport.local_addr();
    // c's valid certificate, claiming to be a.
    let mut raw = raw_client(dir.path(), "c", "b", addr).await.unwrap();
    send_hello(&mut raw, "a", &VersionPolicy::default(), nonce())
        .await
        .unwrap();
    read_hello(&mut raw).await;
    assert!(matches!(
        read_answer(&mut raw).await,
        Some(Answer::Rejected { .. })
    ));
    let err = refusal(&mut b.events).await;
    assert_eq!(
        err,
        TlsError::IdentityMismatch {
            certificate_of: NodeId::new("c"),
            claimed: "a".to_string()
        }
    );
    expect_log(&[
        "connection refused",
        "node=b",
        "certificate of node c claims to be node \"a\"",
    ])
    .await;
    // c honestly, but dialing the wrong way (b dials c, not the reverse).
    let mut raw = raw_client(dir.path(), "c", "b", addr).await.unwrap();
    send_hello(&mut raw, "c", &VersionPolicy::default(), nonce())
        .await
        .unwrap();
    let err = refusal(&mut b.events).await;
    assert_eq!(
        err,
        TlsError::WrongDirection {
            node: NodeId::new("c")
        }
    );
    still_serving(&mut b, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialed_address_answering_with_another_nodes_certificate_is_refused() {
    capture_logs();
    let dir = scratch();
    let (cluster, mut listeners) = cluster(dir.path(), &["a", "b", "c"]);
    let c_addr = listeners
        .iter()
        .find(|(n, _)| n.as_str() == "c")
        .unwrap()
        .1
        .local_addr()
        .unwrap();
    let mut a_config = cluster.config("a").unwrap().clone();
    for peer in &mut a_config.peers {
        if peer.name.as_str() == "b" {
            peer.address = Some(c_addr.to_string());
        }
    }
    let mut a = crate::harness::start_config(a_config, &mut listeners, "a");
    let mut c = start(&cluster, &mut listeners, "c");
    let err = event(&mut a.events, |e| match e {
        LinkEvent::DialFailed { node, error } if node.as_str() == "b" => Some(error.clone()),
        _ => None,
    })
    .await;
    match &err {
        TlsError::WrongCertificate {
            expected,
            belongs_to,
            ..
        } => {
            assert_eq!(expected.as_str(), "b");
            assert_eq!(belongs_to.as_ref().map(NodeId::as_str), Some("c"));
        }
        other => panic!("expected WrongCertificate, got {other:?}"),
    }
    expect_log(&[
        "dial refused",
        "node=a",
        "peer=b",
        "the certificate of node c",
    ])
    .await;
    // A frame for b is dropped at once: retrying cannot fix a wrong certificate.
    send(&a.transport, "b", "for b").await;
    let (node, reason) = a.received.down().await;
    assert_eq!(node.as_str(), "b");
    assert!(reason.contains("certificate of node c"), "{reason}");
    // a and c, correctly configured for each other, are unaffected.
    send(&a.transport, "c", "for c").await;
    assert_eq!(
        c.received.frame().await,
        (NodeId::new("a"), Bytes::from("for c"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_versions_are_refused_on_both_sides() {
    capture_logs();
    let dir = scratch();
    let (mut cluster, mut listeners) = cluster(dir.path(), &["old", "zed"]);
    let v2 = semver::Version::new(2, 0, 0);
    cluster.config_mut("zed").unwrap().protocol = VersionPolicy {
        version: v2.clone(),
        min_version: v2,
        capabilities: Default::default(),
    };
    let mut zed = start(&cluster, &mut listeners, "zed");
    let mut old = start(&cluster, &mut listeners, "old");
    send(&old.transport, "zed", "never delivered").await;
    let dial = event(&mut old.events, |e| match e {
        LinkEvent::DialFailed { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        dial,
        TlsError::Incompatible {
            local: "1.0.0".into(),
            peer: "2.0.0".into(),
            reason: Incompatibility::MajorMismatch
        }
    );
    let refused = refusal(&mut zed.events).await;
    assert_eq!(
        refused,
        TlsError::Incompatible {
            local: "2.0.0".into(),
            peer: "1.0.0".into(),
            reason: Incompatibility::MajorMismatch
        }
    );
    let (node, reason) = old.received.down().await;
    assert_eq!(node.as_str(), "zed");
    assert!(
        reason.contains("this node 1.0.0, peer 2.0.0: major versions differ"),
        "{reason}"
    );
    expect_log(&[
        "connection refused",
        "node=zed",
        "this node 2.0.0, peer 1.0.0",
    ])
    .await;
    assert_eq!(zed.transport.stats().frames_received, 0);
    assert_eq!(zed.transport.stats().links_up, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_incompatible_hello_nothing_but_the_rejection_is_sent() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let mut raw = raw_client(dir.path(), "a", "b", b.transport.local_addr())
        .await
        .unwrap();
    let future = VersionPolicy {
        version: semver::Version::parse("1.4.0").unwrap(),
        min_version: semver::Version::parse("1.3.0").unwrap(),
        capabilities: Default::default(),
    };
    let mine = nonce();
    send_hello(&mut raw, "a", &future, mine).await.unwrap();
    let theirs = read_hello(&mut raw).await;
    match read_answer(&mut raw).await {
        Some(Answer::Rejected {
            echo,
            version,
            reason,
        }) => {
            assert_eq!(echo, mine);
            assert_eq!(version, "1.0.0");
            assert!(
                reason.contains("below the peer's minimum 1.3.0"),
                "{reason}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(theirs.version, "1.0.0");
    assert!(
        !matches!(raw.next().await, Some(Ok(_))),
        "nothing after the rejection"
    );
    let err = refusal(&mut b.events).await;
    assert_eq!(
        err,
        TlsError::Incompatible {
            local: "1.0.0".into(),
            peer: "1.4.0".into(),
            reason: Incompatibility::BelowPeerMinimum {
                minimum: "1.3.0".into()
            }
        }
    );
    still_serving(&mut b, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_handshake_is_refused() {
    let dir = scratch();
    let (_cluster, mut b, mut c) = trio(dir.path());
    let addr = b.transport.local_addr();
    let recorded = nonce();
    let mut first = raw_client(dir.path(), "a", "b", addr).await.unwrap();
    handshake_as(&mut first, "a", recorded).await;
    drop(first);
    let mut replay = raw_client(dir.path(), "a", "b", addr).await.unwrap();
    send_hello(&mut replay, "a", &VersionPolicy::default(), recorded)
        .await
        .unwrap();
    read_hello(&mut replay).await;
    match read_answer(&mut replay).await {
        Some(Answer::Rejected { reason, .. }) => assert!(reason.contains("replayed"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let err = refusal(&mut b.events).await;
    assert_eq!(
        err,
        TlsError::Replay {
            node: NodeId::new("a")
        }
    );
    expect_log(&["connection refused", "node=b", "replayed handshake from a"]).await;
    // An answer that does not echo b's nonce of this connection is refused too.
    let mut stale = raw_client(dir.path(), "a", "b", addr).await.unwrap();
    send_hello(&mut stale, "a", &VersionPolicy::default(), nonce())
        .await
        .unwrap();
    read_hello(&mut stale).await;
    let policy = VersionPolicy::default();
    let wrong = Answer::Accepted {
        echo: recorded,
        negotiated: policy.version.to_string(),
        capabilities: policy.capabilities.iter().cloned().collect(),
    };
    stale
        .send(Frame {
            kind: choreo_runtime::transport::tls::wire::ANSWER,
            payload: wrong.encode(),
        })
        .await
        .unwrap();
    let err = refusal(&mut b.events).await;
    assert_eq!(
        err,
        TlsError::NonceMismatch {
            node: NodeId::new("a")
        }
    );
    still_serving(&mut b, &mut c).await;
}
