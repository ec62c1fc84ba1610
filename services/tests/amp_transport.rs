//! AmpTransport through the channel service: windows of 1 and 5 messages,
//! queues shorter and longer than the window, consecutive windows over the
//! same channel state, and a Receiver that refuses an unknown context.

mod common;

use std::collections::VecDeque;

use choreo_runtime::{ObserverClass, Peer, Roster};
use choreo_services::amp::{
    run_receiver, run_sender, AmpFact, ChannelConfig, ReceiverOutcome, ReceiverState,
    SenderOutcome, SenderState,
};
use choreo_services::crypto;
use common::{session, take};

fn config(context: &str, window: u64) -> ChannelConfig {
    ChannelConfig {
        context_id: crypto::digest("context", &[context.as_bytes()]),
        context_key: crypto::digest("context key", &[context.as_bytes()]),
        epoch: 4,
        window,
    }
}

fn messages(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    range.map(|i| format!("message {i}").into_bytes()).collect()
}

fn sender(window: u64, queued: Vec<Vec<u8>>) -> SenderState {
    let outbox = VecDeque::from(queued);
    SenderState {
        config: config("alice-bob", window),
        generation: 0,
        next_seq: 0,
        outbox,
        journal: Default::default(),
    }
}

fn receiver(context: &str, window: u64) -> ReceiverState {
    ReceiverState {
        config: config(context, window),
        generation: 0,
        next_seq: 0,
        inbox: Vec::new(),
        journal: Default::default(),
    }
}

/// Runs one window between the two states; returns both outcomes.
async fn window(s: &mut SenderState, r: &mut ReceiverState) -> (SenderOutcome, ReceiverOutcome) {
    let roster = Roster::new().with_role("Sender").with_role("Receiver");
    let caps: [(&str, &[&str]); 1] = [("Sender", &["amp:channel", "amp:send"])];
    let mut adapters = session(choreo_amp_transport::PROTOCOL, &roster, &caps);
    let mut rx = take(&mut adapters, &Peer::role("Receiver"));
    let mut receiver_state = r.clone();
    let task = tokio::spawn(async move {
        let outcome = run_receiver(&mut rx, &mut receiver_state)
            .await
            .expect("receiver runs");
        (outcome, receiver_state)
    });
    let mut tx = take(&mut adapters, &Peer::role("Sender"));
    let sent = run_sender(&mut tx, s).await.expect("sender runs");
    let ctx = tx.context();
    for fact in [
        "AmpFact::ChannelOpened",
        "AmpFact::RatchetCheckpoint",
        "AmpFact::ChannelClosed",
    ] {
        assert_eq!(ctx.journal().count(fact), 1, "{fact}");
    }
    // Every envelope of the window, data or padding, leaks one unit each way.
    assert_eq!(ctx.ledger().total(ObserverClass::External), s.config.window);
    let (received, state) = task.await.expect("no receiver panic");
    *r = state;
    (sent, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_arrive_in_order_and_the_ratchet_advances() {
    for (w, queued) in [(1, 1), (5, 3), (5, 5)] {
        let mut s = sender(w, messages(0..queued));
        let mut r = receiver("alice-bob", w);
        let (sent, received) = window(&mut s, &mut r).await;
        let n = queued as usize;
        assert_eq!(
            sent,
            SenderOutcome {
                accepted: true,
                delivered: n,
                generation: 1
            }
        );
        assert_eq!(
            received,
            ReceiverOutcome {
                accepted: Ok(()),
                delivered: n,
                generation: 1
            }
        );
        assert_eq!(r.inbox, messages(0..queued), "window {w}");
        assert!(s.outbox.is_empty());
        assert_eq!((s.next_seq, r.next_seq), (w, w));
        assert!(s.journal.contains(&AmpFact::Checkpointed(1)));
        assert_eq!(r.journal.count(|f| matches!(f, AmpFact::Delivered(_))), n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_queue_drains_over_consecutive_windows() {
    let mut s = sender(5, messages(0..7));
    let mut r = receiver("alice-bob", 5);
    let (first, _) = window(&mut s, &mut r).await;
    assert_eq!(first.delivered, 5);
    assert_eq!(s.outbox, VecDeque::from(messages(5..7)));
    s.outbox.extend(messages(7..9));
    let (second, received) = window(&mut s, &mut r).await;
    assert_eq!(
        second,
        SenderOutcome {
            accepted: true,
            delivered: 4,
            generation: 2
        }
    );
    assert_eq!(received.generation, 2);
    assert_eq!(r.inbox, messages(0..9));
    assert!(s.outbox.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_context_is_refused_and_nothing_is_delivered() {
    for w in [1, 5] {
        let mut s = sender(w, messages(0..2));
        let mut r = receiver("mallory", w);
        let (sent, received) = window(&mut s, &mut r).await;
        assert_eq!(
            sent,
            SenderOutcome {
                accepted: false,
                delivered: 0,
                generation: 0
            }
        );
        assert_eq!(received.accepted, Err("unknown relational context".into()));
        assert!(r.inbox.is_empty());
        assert_eq!(s.outbox.len(), 2, "undelivered messages stay queued");
        assert_eq!(r.next_seq, s.next_seq, "sequence numbers stay in step");
    }
}
