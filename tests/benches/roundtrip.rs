//! One message round trip through generated runners on the in-memory
//! transport, against the same exchange written by hand on tokio channels.
//! Run: `cargo bench -p choreo-e2e --bench roundtrip`.
//!
//! The generated side is AmpTransport's `loop repeat Window` round (an
//! `AmpMessage` with its guard chain, then an `AmpReceipt`), run by the
//! generated Sender and Receiver runners, once with the protocol's guards and
//! once with every guard replaced by one that checks and records nothing;
//! the hand-written side sends a u64 and its reply over two unbounded tokio
//! channels. All on a current-thread runtime; each figure is the median of 7
//! runs of 100,000 rounds. A counting global allocator gives allocations per
//! round trip. The last line is the summary the project tracks.

use choreo_amp_transport as amp;
use choreo_e2e::amp::{Receiver, Sender};
use choreo_runtime::{MemoryNetwork, Peer, Protocol, RoleContext, Roster, SendGuard};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ROUNDS: u64 = 100_000;
const RUNS: usize = 7;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// AmpTransport with every guard checking and recording nothing.
static UNGUARDED: Protocol = Protocol {
    guards: &[
        SendGuard::plain(amp::label::CHANNEL_OPEN),
        SendGuard::plain(amp::label::CHANNEL_ACCEPT),
        SendGuard::plain(amp::label::AMP_MESSAGE),
        SendGuard::plain(amp::label::AMP_RECEIPT),
        SendGuard::plain(amp::label::RATCHET_CHECKPOINT),
        SendGuard::plain(amp::label::CHECKPOINT_ACK),
        SendGuard::plain(amp::label::CHANNEL_CLOSE),
    ],
    ..amp::PROTOCOL
};

/// One AmpTransport session of `rounds` rounds; its time and allocations.
async fn generated(protocol: &'static Protocol, rounds: u64) -> (Duration, u64) {
    let roster = Roster::new().with_role("Sender").with_role("Receiver");
    let net = MemoryNetwork::new();
    let (a, b) = (
        net.node("Sender").expect("node"),
        net.node("Receiver").expect("node"),
    );
    let params = amp::Params { window: rounds };
    let budget = 10 * rounds;
    let mut sender_ctx = RoleContext::new()
        .with_capabilities(["amp:channel", "amp:send"])
        .with_default_budget(budget);
    let mut receiver_ctx = RoleContext::new().with_default_budget(budget);
    let id = a.new_session_id();
    let sender = a
        .session(protocol, id, &roster, Peer::role("Sender"), &mut sender_ctx)
        .expect("session");
    let receiver = b
        .session(
            protocol,
            id,
            &roster,
            Peer::role("Receiver"),
            &mut receiver_ctx,
        )
        .expect("session");
    let (mut s, mut r) = (Sender::default(), Receiver::default());
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    let (sent, received) = tokio::join!(
        amp::execute_as(amp::As::Sender(&mut s), sender, &params),
        amp::execute_as(amp::As::Receiver(&mut r), receiver, &params),
    );
    let elapsed = start.elapsed();
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - allocations;
    sent.expect("sender");
    received.expect("receiver");
    (elapsed, allocated)
}

async fn hand_written(rounds: u64) -> (Duration, u64) {
    let (to_b, mut at_b) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (to_a, mut at_a) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    let other = async move {
        while let Some(v) = at_b.recv().await {
            if to_a.send(v).is_err() {
                break;
            }
        }
    };
    let one = async move {
        for i in 0..rounds {
            to_b.send(i).expect("send");
            assert_eq!(at_a.recv().await, Some(i));
        }
    };
    tokio::join!(one, other);
    (
        start.elapsed(),
        ALLOCATIONS.load(Ordering::Relaxed) - allocations,
    )
}

/// Median ns per round trip and allocations per round trip over `RUNS` runs.
fn measure<F: std::future::Future<Output = (Duration, u64)>>(
    rt: &tokio::runtime::Runtime,
    run: impl Fn() -> F,
) -> (f64, f64) {
    rt.block_on(run());
    let mut runs: Vec<(Duration, u64)> = (0..RUNS).map(|_| rt.block_on(run())).collect();
    runs.sort();
    let (time, allocations) = runs[RUNS / 2];
    (
        time.as_nanos() as f64 / ROUNDS as f64,
        allocations as f64 / ROUNDS as f64,
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `--profile N [--hand-written]`: one guarded session (or hand-written
    // exchange) of N rounds and nothing else, for callgrind.
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args.iter().position(|a| a == "--profile") {
        let rounds = args
            .get(n + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        let (time, allocations) = if args.iter().any(|a| a == "--hand-written") {
            rt.block_on(hand_written(rounds))
        } else {
            rt.block_on(generated(&amp::PROTOCOL, rounds))
        };
        println!("{rounds} rounds in {time:?}, {allocations} allocations");
        return;
    }
    let (gen, gen_alloc) = measure(&rt, || generated(&amp::PROTOCOL, ROUNDS));
    let (off, off_alloc) = measure(&rt, || generated(&UNGUARDED, ROUNDS));
    let (hand, hand_alloc) = measure(&rt, || hand_written(ROUNDS));
    println!("round trip, {ROUNDS} rounds, median of {RUNS} runs, current-thread runtime");
    println!("generated runners, guards on   {gen:>7.0} ns  {gen_alloc:>5.2} allocations");
    println!("generated runners, guards off  {off:>7.0} ns  {off_alloc:>5.2} allocations");
    println!("hand-written tokio channels    {hand:>7.0} ns  {hand_alloc:>5.2} allocations");
    println!(
        "roundtrip: generated {gen:.0} ns, hand-written {hand:.0} ns, ratio {:.2}, allocations {gen_alloc:.2}",
        gen / hand
    );
}
