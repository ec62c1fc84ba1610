//! One message round trip through generated runners on the in-memory
//! transport, against the same exchange written by hand on tokio channels.
//! Run: `cargo bench -p choreo-e2e --bench roundtrip`.
//!
//! The generated side is AmpTransport's `loop repeat Window` round (an
//! `AmpMessage` with its guard chain, then an `AmpReceipt`), run by the
//! generated Sender and Receiver runners; the hand-written side sends a u64
//! and a reply over two unbounded tokio channels. Both on a current-thread
//! runtime; the figure is the median of 7 runs of 100,000 rounds.

use choreo_amp_transport as amp;
use choreo_runtime::{Adapter, Effects, InMemoryNetwork, Peer, RoleContext, Roster};
use std::time::{Duration, Instant};

const ROUNDS: u64 = 100_000;

struct Types;
impl amp::Types for Types {
    type ChannelOpen = u64;
    type ChannelAccept = u64;
    type AmpEnvelope = u64;
    type ChannelClose = u64;
}

struct Sender(u64);
impl amp::Sender<Types> for Sender {
    fn channel_open(&mut self, _: &Peer) -> u64 {
        1
    }
    fn on_channel_accept(&mut self, _: &Peer, _: u64) {}
    fn amp_message(&mut self, _: &Peer) -> u64 {
        self.0 += 1;
        self.0
    }
    fn on_amp_receipt(&mut self, _: &Peer, msg: amp::msg::AmpReceipt) {
        assert_eq!(msg.seq, self.0);
    }
    fn ratchet_checkpoint(&mut self, _: &Peer) -> amp::msg::RatchetCheckpoint {
        amp::msg::RatchetCheckpoint {
            epoch: 1,
            generation: 1,
        }
    }
    fn on_checkpoint_ack(&mut self, _: &Peer, _: amp::msg::CheckpointAck) {}
    fn channel_close(&mut self, _: &Peer) -> u64 {
        0
    }
}

struct Receiver(u64);
impl amp::Receiver<Types> for Receiver {
    fn on_channel_open(&mut self, _: &Peer, _: u64) {}
    fn channel_accept(&mut self, _: &Peer) -> u64 {
        1
    }
    fn on_amp_message(&mut self, _: &Peer, msg: u64) {
        self.0 = msg;
    }
    fn amp_receipt(&mut self, _: &Peer) -> amp::msg::AmpReceipt {
        amp::msg::AmpReceipt {
            seq: self.0,
            digest: [0; 32],
        }
    }
    fn on_ratchet_checkpoint(&mut self, _: &Peer, _: amp::msg::RatchetCheckpoint) {}
    fn checkpoint_ack(&mut self, _: &Peer) -> amp::msg::CheckpointAck {
        amp::msg::CheckpointAck { generation: 1 }
    }
    fn on_channel_close(&mut self, _: &Peer, _: u64) {}
}

async fn generated() -> Duration {
    let roster = Roster::new().with_role("Sender").with_role("Receiver");
    let net = InMemoryNetwork::new();
    let mut ends = net.endpoints(&roster).expect("endpoints");
    let params = amp::Params { window: ROUNDS };
    let budget = 10 * ROUNDS;
    let sender_ctx = RoleContext::new()
        .with_capabilities(["amp:channel", "amp:send"])
        .with_default_budget(budget);
    let mut sender = Adapter::new(
        amp::PROTOCOL,
        Effects::new(
            ends.remove(&Peer::role("Sender")).expect("end"),
            roster.clone(),
        ),
        sender_ctx,
    );
    let mut receiver = Adapter::new(
        amp::PROTOCOL,
        Effects::new(ends.remove(&Peer::role("Receiver")).expect("end"), roster),
        RoleContext::new().with_default_budget(budget),
    );
    let start = Instant::now();
    let p = params.clone();
    let other = tokio::spawn(async move {
        amp::execute_as::<Types, _>(amp::As::Receiver(&mut Receiver(0)), &mut receiver, &p)
            .await
            .expect("receiver");
    });
    amp::execute_as::<Types, _>(amp::As::Sender(&mut Sender(0)), &mut sender, &params)
        .await
        .expect("sender");
    other.await.expect("no panic");
    start.elapsed()
}

async fn hand_written() -> Duration {
    let (to_b, mut at_b) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (to_a, mut at_a) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let start = Instant::now();
    let other = tokio::spawn(async move {
        while let Some(v) = at_b.recv().await {
            if to_a.send(v).is_err() {
                break;
            }
        }
    });
    for i in 0..ROUNDS {
        to_b.send(i).expect("send");
        assert_eq!(at_a.recv().await, Some(i));
    }
    drop(to_b);
    other.await.expect("no panic");
    start.elapsed()
}

fn median(mut runs: Vec<Duration>) -> f64 {
    runs.sort();
    runs[runs.len() / 2].as_nanos() as f64 / ROUNDS as f64
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let gen = median((0..7).map(|_| rt.block_on(generated())).collect());
    let hand = median((0..7).map(|_| rt.block_on(hand_written())).collect());
    println!("round trip, {ROUNDS} rounds, median of 7 runs, current-thread runtime");
    println!(
        "generated runners (AmpTransport round, guard chain, in-memory transport)  {gen:>7.0} ns"
    );
    println!(
        "hand-written (u64 and reply over tokio unbounded channels)                {hand:>7.0} ns"
    );
    println!("generated / hand-written: {:.1}x", gen / hand);
}
