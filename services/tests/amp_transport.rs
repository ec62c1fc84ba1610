//! AmpTransport through the channel service: windows of 1 and 5 messages,
//! queues shorter and longer than the window, consecutive windows over the
//! same channel state, and a Receiver that refuses an unknown context or
//! window, which cancels the window for the Sender at once. The hostile
//! peers are in `amp_transport/hostile.rs`.

mod common;
#[path = "amp_transport/hostile.rs"]
mod hostile;

use std::collections::VecDeque;

use choreo_runtime::{ObserverClass, Peer};
use choreo_services::amp::{
    run_receiver, run_sender, AmpFact, ChannelConfig, ReceiverOutcome, ReceiverState,
    SenderOutcome, SenderState,
};
use choreo_services::journal::facts;
use choreo_services::{crypto, ServiceError};
use common::{assert_cancelled, assert_refused, Harness, TIMEOUT};
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[("Sender", &["amp:channel", "amp:send"])];
const SENDER: Peer = Peer::role("Sender");
const RECEIVER: Peer = Peer::role("Receiver");

pub fn config(context: &str, window: u64) -> ChannelConfig {
    ChannelConfig {
        context_id: crypto::digest("context", &[context.as_bytes()]),
        context_key: crypto::SecretKey::derive("context key", &[context.as_bytes()]),
        epoch: 4,
        window,
    }
}

pub fn messages(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    range.map(|i| format!("message {i}").into_bytes()).collect()
}

pub fn sender(window: u64, queued: Vec<Vec<u8>>) -> SenderState {
    let outbox = VecDeque::from(queued);
    SenderState {
        config: config("alice-bob", window),
        generation: 0,
        next_seq: 0,
        outbox,
    }
}

pub fn receiver(context: &str, window: u64) -> ReceiverState {
    ReceiverState {
        config: config(context, window),
        generation: 0,
        next_seq: 0,
        inbox: Vec::new(),
    }
}

/// The AmpTransport facts `peer`'s node recorded.
pub fn amp_facts(h: &Harness, peer: Peer) -> Vec<AmpFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

type Outcomes = (
    Result<SenderOutcome, ServiceError>,
    Result<ReceiverOutcome, ServiceError>,
    Harness,
);

/// Runs one window between the two states on fresh nodes; returns both outcomes.
async fn try_window(s: &mut SenderState, r: &mut ReceiverState) -> Outcomes {
    let mut h = Harness::new(&choreo_amp_transport::PROTOCOL, &[], CAPS);
    let mut sessions = h.join();
    let (tx, rx) = (sessions.take(SENDER), sessions.take(RECEIVER));
    sessions.done();
    let (sent, received) = tokio::join!(run_sender(tx, s), run_receiver(rx, r));
    (sent, received, h)
}

/// Runs one window that both sides complete; returns both outcomes and
/// the facts each side recorded.
async fn window(
    s: &mut SenderState,
    r: &mut ReceiverState,
) -> (SenderOutcome, ReceiverOutcome, [Vec<AmpFact>; 2]) {
    let (sent, received, h) = try_window(s, r).await;
    let journal = h.node(SENDER).journal();
    for fact in [
        "AmpFact::ChannelOpened",
        "AmpFact::RatchetCheckpoint",
        "AmpFact::ChannelClosed",
    ] {
        assert_eq!(journal.count(fact).unwrap(), 1, "{fact}");
    }
    // Every envelope of the window, data or padding, leaks one unit each way.
    let ledger = h.context(SENDER).ledger();
    assert_eq!(ledger.total(ObserverClass::External), s.config.window);
    (
        sent.expect("the sender runs"),
        received.expect("the receiver runs"),
        [amp_facts(&h, SENDER), amp_facts(&h, RECEIVER)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_arrive_in_order_and_the_ratchet_advances() {
    for (w, queued) in [(1, 1), (5, 3), (5, 5)] {
        let mut s = sender(w, messages(0..queued));
        let mut r = receiver("alice-bob", w);
        let (sent, received, [tx, rx]) = window(&mut s, &mut r).await;
        let n = queued as usize;
        assert_eq!(
            sent,
            SenderOutcome {
                delivered: n,
                generation: 1
            }
        );
        assert_eq!(
            received,
            ReceiverOutcome {
                delivered: n,
                generation: 1
            }
        );
        assert_eq!(r.inbox, messages(0..queued), "window {w}");
        assert!(s.outbox.is_empty());
        assert_eq!((s.next_seq, r.next_seq), (w, w));
        // Both sides record the open, each data message, checkpoint and close.
        for facts in [&tx, &rx] {
            let channel = match facts.first() {
                Some(AmpFact::Opened(id, Ok(()))) => *id,
                other => panic!("window {w}: {other:?} first"),
            };
            let mut expected = vec![AmpFact::Opened(channel, Ok(()))];
            expected.extend((0..queued as u64).map(AmpFact::Delivered));
            expected.extend([AmpFact::Checkpointed(1), AmpFact::Closed(channel)]);
            assert_eq!(facts, &expected, "window {w}");
        }
        assert_eq!(tx.first(), rx.first());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_queue_drains_over_consecutive_windows() {
    let mut s = sender(5, messages(0..7));
    let mut r = receiver("alice-bob", 5);
    let (first, _, _) = window(&mut s, &mut r).await;
    assert_eq!(first.delivered, 5);
    assert_eq!(s.outbox, VecDeque::from(messages(5..7)));
    s.outbox.extend(messages(7..9));
    let (second, received, [tx, _]) = window(&mut s, &mut r).await;
    let delivered = |f: &AmpFact| matches!(f, AmpFact::Delivered(_));
    assert_eq!(
        tx.iter().filter(|f| delivered(f)).count(),
        4,
        "padding is not recorded"
    );
    assert!(tx.contains(&AmpFact::Checkpointed(2)), "{tx:?}");
    assert_eq!(
        second,
        SenderOutcome {
            delivered: 4,
            generation: 2
        }
    );
    assert_eq!(received.generation, 2);
    assert_eq!(r.inbox, messages(0..9));
    assert!(s.outbox.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unknown_context_or_window_is_refused_and_the_window_is_cancelled_at_once() {
    for (w, context, theirs, why) in [
        (1, "mallory", 1, "unknown relational context"),
        (5, "mallory", 5, "unknown relational context"),
        (5, "alice-bob", 4, "window 5 is not 4"),
    ] {
        let started = Instant::now();
        let mut s = sender(w, messages(0..2));
        let mut r = receiver(context, theirs);
        let (sent, received, h) = try_window(&mut s, &mut r).await;
        assert_refused(&received, why);
        assert_cancelled(&sent, RECEIVER, why);
        assert!(r.inbox.is_empty());
        assert_eq!(s.outbox.len(), 2, "undelivered messages stay queued");
        assert_eq!((s.next_seq, r.next_seq), (0, 0), "no message was sent");
        let channel = |j: &[AmpFact]| match j.first() {
            Some(AmpFact::Opened(id, Err(reason))) if reason == why => Some(*id),
            _ => None,
        };
        let (tx, rx) = (amp_facts(&h, SENDER), amp_facts(&h, RECEIVER));
        let opened = channel(&tx);
        assert!(opened.is_some(), "the sender records the refusal: {tx:?}");
        assert_eq!(channel(&rx), opened, "the receiver too");
        assert_eq!((tx.len(), rx.len()), (1, 1), "{tx:?} {rx:?}");
        let journal = h.node(SENDER).journal();
        assert_eq!(journal.count("AmpFact::ChannelOpened").unwrap(), 1);
        assert_eq!(journal.count("AmpFact::RatchetCheckpoint").unwrap(), 0);
        assert_eq!(h.context(SENDER).ledger().sends(), 0, "no envelope leaked");
        assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
    }
}
