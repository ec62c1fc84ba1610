//! Bounded memory: frames over the maximum size are refused on both sides,
//! inboxes are bounded (a slow receiver slows its sender), and the leakage
//! ledger and audit log keep bounded histories.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use choreo_runtime::{ErrorKind, NodeOptions, RoleContext};
use common::*;

/// Polls `fut` once; whether it finished.
fn ready_now<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(fut.as_mut().poll(&mut cx), Poll::Ready(_))
}

#[tokio::test(start_paused = true)]
async fn an_oversized_frame_is_refused_by_its_sender_with_no_effect() {
    let net = Net::with_options(1, || NodeOptions {
        max_frame: 1024,
        ..NodeOptions::default()
    });
    let id = net.id();
    let mut ctx = RoleContext::new().with_capabilities(["ceremony:propose"]);
    let mut init = net.initiator(id, &mut ctx);
    let err = init
        .send(guardian(0), G_FULL, &vec![7u8; 2000])
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::FrameTooLarge { max: 1024, .. }),
        "{err}"
    );
    assert_eq!(init.metrics().messages_sent, 0);
    init.finish();
    assert!(net.initiator.journal().is_empty().unwrap());
    assert_eq!(ctx.audit_log().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_oversized_frame_is_refused_by_its_receiver_with_a_typed_error() {
    let net = choreo_runtime::MemoryNetwork::new();
    let sender = net.node("Initiator").unwrap();
    let small = NodeOptions {
        max_frame: 100,
        timeout: TIMEOUT,
        ..NodeOptions::default()
    };
    let receiver = net.node_with("Guardian[0]", small).unwrap();
    let roster = ceremony(1);
    let id = sender.new_session_id();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let mut init = sender
        .session(&CEREMONY, id, &roster, INITIATOR, &mut a)
        .unwrap();
    let mut g = receiver
        .session(&CEREMONY, id, &roster, guardian(0), &mut b)
        .unwrap();
    init.send(guardian(0), G_PLAIN, &vec![1u8; 500])
        .await
        .unwrap();
    let err = g.recv::<Vec<u8>>(INITIATOR, PROPOSE).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::FrameTooLarge { max: 100, size } if *size > 500
        ),
        "{err}"
    );
    assert_eq!(receiver.stats().oversized, 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_receiver_slows_its_sender() {
    let net = Net::with_options(1, || NodeOptions {
        inbox_capacity: 2,
        ..NodeOptions::default()
    });
    let id = net.id();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let mut init = net.initiator(id, &mut a);
    let mut g = net.guardian(0, id, &mut b);
    assert!(ready_now(init.send(guardian(0), G_PLAIN, &1u8)));
    assert!(ready_now(init.send(guardian(0), G_PLAIN, &2u8)));
    // The guardian's inbox is full: the third send waits for room.
    assert!(!ready_now(init.send(guardian(0), G_PLAIN, &3u8)));
    assert_eq!(init.metrics().messages_sent, 2);
    assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), 1);
    assert!(ready_now(init.send(guardian(0), G_PLAIN, &3u8)));
    assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), 2);
    assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn ledger_and_audit_log_keep_totals_and_bounded_histories() {
    let net = Net::new(1);
    let id = net.id();
    let mut ctx = RoleContext::new()
        .with_capabilities(["ceremony:propose"])
        .with_audit_capacity(4)
        .with_leak_history(3);
    let mut init = net.initiator(id, &mut ctx);
    let mut b = RoleContext::new();
    let mut g = net.guardian(0, id, &mut b);
    for k in 0..10u8 {
        init.send(guardian(0), G_FULL, &k).await.unwrap();
        g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap();
    }
    init.finish();
    assert_eq!(ctx.audit_log().len(), 4);
    assert_eq!(ctx.audit_total(), 10);
    assert_eq!(ctx.ledger().recent().len(), 3);
    assert_eq!(ctx.ledger().sends(), 10);
    assert_eq!(ctx.ledger().total(choreo_runtime::ObserverClass::Group), 10);
}
