//! Cancellation: when one side of a session stops early, every other side
//! ends at once with `Cancelled`, naming who stopped and why; no receive
//! timeout elapses (the clock is paused, so any wait would show as virtual
//! time passing).

mod common;

use std::future::pending;

use choreo_runtime::{Error, ErrorKind, Peer, RoleContext, RunError};
use common::*;
use tokio::time::Instant;

/// Asserts that `err` is the cancellation by `by`, with a reason containing `why`.
fn assert_cancelled(err: &Error, by: Peer, why: &str) {
    match err.kind() {
        ErrorKind::Cancelled { by: who, reason } => {
            assert_eq!(*who, by, "{err}");
            assert!(reason.contains(why), "reason {reason:?} lacks {why:?}");
        }
        _ => panic!("expected a cancellation by {by}, got {err}"),
    }
}

/// Guardians 0..n each wait for a Propose; returns how each wait ended.
async fn guardians_wait(net: &Net, id: choreo_runtime::SessionId, n: u32) -> Vec<Error> {
    let mut ctx: Vec<RoleContext> = (0..n).map(|_| RoleContext::new()).collect();
    let mut sessions: Vec<_> = ctx
        .iter_mut()
        .enumerate()
        .map(|(i, c)| net.guardian(i as u32, id, c))
        .collect();
    let waits = sessions
        .iter_mut()
        .map(|g| async { g.recv::<String>(INITIATOR, PROPOSE).await.unwrap_err() });
    futures_util::future::join_all(waits).await
}

#[tokio::test(start_paused = true)]
async fn a_role_whose_code_fails_cancels_every_peer_at_once() {
    let net = Net::new(3);
    let id = net.id();
    let started = Instant::now();
    let mut ctx = RoleContext::new();
    let init = net.initiator(id, &mut ctx);
    let (errors, outcome) = tokio::join!(guardians_wait(&net, id, 3), async move {
        tokio::task::yield_now().await;
        init.complete(Err(RunError::Role("policy says no")))
    });
    assert_eq!(outcome.unwrap_err(), RunError::Role("policy says no"));
    for err in &errors {
        assert_cancelled(err, INITIATOR, "policy says no");
    }
    assert!(started.elapsed() < TIMEOUT, "no timeout elapsed");
}

#[tokio::test(start_paused = true)]
async fn a_guard_refusal_cancels_every_peer() {
    let net = Net::new(2);
    let id = net.id();
    let started = Instant::now();
    let mut ctx = RoleContext::new();
    let mut init = net.initiator(id, &mut ctx);
    let (errors, outcome) = tokio::join!(guardians_wait(&net, id, 2), async move {
        let refused = init.send(guardian(0), G_COMMIT, &()).await;
        let outcome: Result<(), RunError<String>> = refused.map_err(RunError::Session);
        init.complete(outcome)
    });
    assert!(matches!(
        outcome.unwrap_err(),
        RunError::Session(e) if matches!(e.kind(), ErrorKind::Refused(_))
    ));
    for err in &errors {
        assert_cancelled(err, INITIATOR, "CapGuard");
    }
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn an_undecodable_payload_cancels_the_sender_too() {
    let net = Net::new(1);
    let id = net.id();
    let started = Instant::now();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let mut init = net.initiator(id, &mut a);
    let mut g = net.guardian(0, id, &mut b);
    // The Initiator sends a string where the guardian expects a number.
    init.send(guardian(0), G_PLAIN, &"not a number")
        .await
        .unwrap();
    let (waiting, guardian_outcome) = tokio::join!(
        async { init.recv::<u8>(guardian(0), RESPOND).await.unwrap_err() },
        async {
            let decoded = g.recv::<u64>(INITIATOR, PROPOSE).await.map(|_| ());
            g.complete::<String>(decoded.map_err(RunError::Session))
        }
    );
    let err = guardian_outcome.unwrap_err();
    assert!(
        matches!(
            err.session().map(Error::kind),
            Some(ErrorKind::Decode { .. })
        ),
        "{err:?}"
    );
    assert_cancelled(&waiting, guardian(0), "undecodable message");
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_receive_timeout_on_one_side_cancels_the_others() {
    let net = Net::new(2);
    let id = net.id();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    // The Initiator would wait longer than Guardian[0] does.
    let mut init = net.initiator(id, &mut a).with_timeout(2 * TIMEOUT);
    let mut g0 = net.guardian(0, id, &mut b);
    let started = Instant::now();
    let (init_err, g0_outcome) = tokio::join!(
        async { init.recv::<u8>(guardian(1), RESPOND).await.unwrap_err() },
        async {
            // Guardian[0] waits for a Propose that never comes.
            let got = g0.recv::<u8>(INITIATOR, PROPOSE).await.map(|_| ());
            g0.complete::<String>(got.map_err(RunError::Session))
        }
    );
    let timeout = g0_outcome.unwrap_err();
    assert!(matches!(
        timeout.session().map(Error::kind),
        Some(ErrorKind::Timeout { after }) if *after == TIMEOUT
    ));
    assert_cancelled(&init_err, guardian(0), "no message within");
    // Exactly one timeout elapsed, on the side that gave up.
    assert_eq!(started.elapsed(), TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_session_cancels_it() {
    let net = Net::new(1);
    let id = net.id();
    let started = Instant::now();
    let mut ctx = RoleContext::new();
    let init = net.initiator(id, &mut ctx);
    let (errors, ()) = tokio::join!(guardians_wait(&net, id, 1), async move {
        tokio::task::yield_now().await;
        drop(init);
    });
    assert_cancelled(&errors[0], INITIATOR, "dropped");
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_interrupts_role_code_that_is_waiting() {
    let net = Net::new(1);
    let id = net.id();
    let started = Instant::now();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let init = net.initiator(id, &mut a);
    let g = net.guardian(0, id, &mut b);
    let (waiting, _) = tokio::join!(
        // The guardian's code waits on something that never completes.
        g.call(pending::<Result<(), String>>()),
        async move {
            tokio::task::yield_now().await;
            init.complete(Err(RunError::Role("stop")))
        }
    );
    match waiting {
        Err(RunError::Session(err)) => assert_cancelled(&err, INITIATOR, "stop"),
        other => panic!("expected a cancellation, got {other:?}"),
    }
    assert!(started.elapsed() < TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_vanished_peer_is_a_typed_error_after_what_it_sent() {
    let net = Net::new(1);
    let id = net.id();
    let (mut a, mut b) = (RoleContext::new(), RoleContext::new());
    let mut init = net.initiator(id, &mut a);
    let mut g = net.guardian(0, id, &mut b);
    init.send(guardian(0), G_PLAIN, &9u8).await.unwrap();
    net.net.cut(net.initiator.id());
    let started = Instant::now();
    assert_eq!(g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap(), 9);
    let err = g.recv::<u8>(INITIATOR, PROPOSE).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::PeerGone { .. }), "{err}");
    assert!(started.elapsed() < TIMEOUT);
    let err = g.send(INITIATOR, G_ABORT, &()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Send(_)), "{err}");
}
