//! One message round trip (Ping, then Pong back) between two roles: through the
//! typed adapter on the in-memory transport, through the byte-level effects
//! alone, and written by hand on raw tokio channels. Prints ns per round trip
//! (median of several runs) for each.
//!
//! Run: `cargo bench -p choreo-runtime --bench roundtrip`

use std::time::{Duration, Instant};

use choreo_runtime::{
    Adapter, ChoreographicEffects, Effects, InMemoryNetwork, MemoryEndpoint, Peer, RoleContext,
    Roster, SendGuard,
};
use tokio::runtime::Runtime;
use tokio::sync::mpsc::unbounded_channel;

const ROUNDS: u32 = 100_000;
const RUNS: usize = 7;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    println!("round trip of one u64 message and its reply, {ROUNDS} rounds, median of {RUNS} runs, current-thread runtime");
    let adapter = median(&rt, adapter_rounds);
    let effects = median(&rt, effects_rounds);
    let raw = median(&rt, raw_rounds);
    report("adapter (typed, guard chain, in-memory transport)", adapter);
    report("effects (bytes, in-memory transport)", effects);
    report("hand-written (raw tokio unbounded channels)", raw);
    println!(
        "adapter / hand-written: {:.1}x",
        adapter.as_secs_f64() / raw.as_secs_f64()
    );
}

fn report(what: &str, total: Duration) {
    let ns = total.as_secs_f64() * 1e9 / f64::from(ROUNDS);
    println!("{what:<52} {ns:>8.0} ns/round trip");
}

/// Runs `rounds` once for warm-up, then `RUNS` times, and returns the median time.
fn median<F: std::future::Future<Output = Duration>>(rt: &Runtime, rounds: fn() -> F) -> Duration {
    rt.block_on(rounds());
    let mut times: Vec<Duration> = (0..RUNS).map(|_| rt.block_on(rounds())).collect();
    times.sort();
    times[RUNS / 2]
}

fn pair() -> (Effects<MemoryEndpoint>, Effects<MemoryEndpoint>, Peer, Peer) {
    let roster = Roster::new().with_role("A").with_role("B");
    let (a, b) = (Peer::role("A"), Peer::role("B"));
    let net = InMemoryNetwork::new();
    let ea = Effects::new(net.endpoint(a.clone()).expect("A"), roster.clone());
    let eb = Effects::new(net.endpoint(b.clone()).expect("B"), roster);
    (ea, eb, a, b)
}

async fn adapter_rounds() -> Duration {
    let (ea, eb, a, b) = pair();
    let mut alice = Adapter::new("PingPong", ea, RoleContext::new());
    let mut bob = Adapter::new("PingPong", eb, RoleContext::new());
    alice.start().expect("session");
    bob.start().expect("session");
    let echo = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let x: u64 = bob.recv(&a, "Ping").await.expect("ping");
            bob.send(&a, "Pong", &SendGuard::NONE, &x)
                .await
                .expect("pong");
        }
    });
    let start = Instant::now();
    for i in 0..u64::from(ROUNDS) {
        alice
            .send(&b, "Ping", &SendGuard::NONE, &i)
            .await
            .expect("ping");
        let y: u64 = alice.recv(&b, "Pong").await.expect("pong");
        assert_eq!(y, i);
    }
    let elapsed = start.elapsed();
    echo.await.expect("echo task");
    elapsed
}

async fn effects_rounds() -> Duration {
    let (mut alice, mut bob, a, b) = pair();
    alice.start_session("PingPong").expect("session");
    bob.start_session("PingPong").expect("session");
    let echo = tokio::spawn(async move {
        for _ in 0..ROUNDS {
            let x = bob.receive_from_role_bytes(&a).await.expect("ping");
            bob.send_to_role_bytes(&a, x).await.expect("pong");
        }
    });
    let start = Instant::now();
    for i in 0..u64::from(ROUNDS) {
        let bytes = i.to_le_bytes().to_vec();
        alice.send_to_role_bytes(&b, bytes).await.expect("ping");
        let y = alice.receive_from_role_bytes(&b).await.expect("pong");
        assert_eq!(y, i.to_le_bytes());
    }
    let elapsed = start.elapsed();
    echo.await.expect("echo task");
    elapsed
}

async fn raw_rounds() -> Duration {
    let (to_bob, mut bob_rx) = unbounded_channel::<u64>();
    let (to_alice, mut alice_rx) = unbounded_channel::<u64>();
    let echo = tokio::spawn(async move {
        while let Some(x) = bob_rx.recv().await {
            to_alice.send(x).expect("pong");
        }
    });
    let start = Instant::now();
    for i in 0..u64::from(ROUNDS) {
        to_bob.send(i).expect("ping");
        let y = alice_rx.recv().await.expect("pong");
        assert_eq!(y, i);
    }
    let elapsed = start.elapsed();
    drop(to_bob);
    echo.await.expect("echo task");
    elapsed
}
