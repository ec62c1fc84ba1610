//! Facts per second appended to a journal file with immediate durability
//! (every `append` fsync'd before it returns): one fact per append, 64 facts
//! per append (one group commit), and 64 tasks appending one fact each
//! concurrently (the writer thread groups what arrives during a commit).
//! The in-memory journal is printed for comparison.
//!
//! Run: `cargo bench -p choreo-runtime --bench journal`
//! (the file goes to the system temp directory; set `TMPDIR` to measure
//! another disk).

use std::time::{Duration, Instant};

use choreo_runtime::journal::{Journal, NewFact};
use choreo_runtime::transport::contract::{NodeId, SessionId};

/// Facts appended per measured run.
const SINGLE: usize = 500;
const GROUPED: usize = 64 * 160;
const CONCURRENT_TASKS: usize = 64;
const CONCURRENT_ROUNDS: usize = 20;
const RUNS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    println!(
        "journal appends, facts of 32-byte bodies, median of {RUNS} runs (slowest..fastest run)"
    );
    let file = |what: &str, facts: usize, run: &dyn Fn(&Journal) -> Duration| {
        let times = (0..RUNS)
            .map(|_| {
                let dir = tempfile::tempdir().expect("tempdir");
                let journal =
                    Journal::open(&dir.path().join("bench.journal"), NodeId::new("bench"))
                        .expect("open");
                run(&journal)
            })
            .collect();
        report(what, facts, times);
    };
    file("redb, immediate, 1 fact per append", SINGLE, &|j| {
        rt.block_on(appends(j, SINGLE, 1))
    });
    file("redb, immediate, 64 facts per append", GROUPED, &|j| {
        rt.block_on(appends(j, GROUPED, 64))
    });
    file(
        "redb, immediate, 64 tasks x 1 fact concurrently",
        CONCURRENT_TASKS * CONCURRENT_ROUNDS,
        &|j| rt.block_on(concurrent(j)),
    );
    let memory = (0..RUNS)
        .map(|_| {
            rt.block_on(appends(
                &Journal::in_memory(NodeId::new("bench")),
                100_000,
                1,
            ))
        })
        .collect();
    report("memory, 1 fact per append", 100_000, memory);
}

fn fact(i: usize) -> NewFact {
    let mut body = [0u8; 32];
    body[..8].copy_from_slice(&(i as u64).to_le_bytes());
    NewFact::new(SessionId([1; 16]), "Bench::Fact", body.to_vec())
}

async fn appends(journal: &Journal, facts: usize, group: usize) -> Duration {
    let start = Instant::now();
    for g in 0..facts / group {
        let batch = (0..group).map(|i| fact(g * group + i)).collect();
        journal.append(batch).await.expect("append");
    }
    start.elapsed()
}

async fn concurrent(journal: &Journal) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|t| {
            let journal = journal.clone();
            tokio::spawn(async move {
                for r in 0..CONCURRENT_ROUNDS {
                    journal
                        .append(vec![fact(t * 1000 + r)])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

/// Prints the median rate, with the slowest and fastest runs: fsync latency
/// varies with whatever else the machine's disk is doing.
fn report(what: &str, facts: usize, mut times: Vec<Duration>) {
    times.sort();
    let rate = |t: Duration| facts as f64 / t.as_secs_f64();
    let median = times[times.len() / 2];
    let (slowest, fastest) = (times[times.len() - 1], times[0]);
    println!(
        "{what:<50} {:>9.0} facts/s  ({:.0}..{:.0}; {:.1} µs/fact)",
        rate(median),
        rate(slowest),
        rate(fastest),
        median.as_secs_f64() * 1e6 / facts as f64
    );
}
