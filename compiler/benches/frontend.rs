//! Front-end benchmark: speed and memory of parse, check, project and print
//! on generated protocols of growing size, to show that time and memory grow
//! linearly. Run: `cargo bench -p choreoc --bench frontend`.
//!
//! Each figure is the best of several runs (wall-clock, this process only);
//! "peak" is the most heap memory live at once during that phase, counted by
//! a wrapper around mimalloc (the allocator the `choreoc` binary uses).

use choreoc::{check, project, syntax};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { mimalloc::MiMalloc.alloc(l) };
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { mimalloc::MiMalloc.realloc(p, l, new) };
        let now = LIVE.fetch_add(new, Relaxed) + new;
        PEAK.fetch_max(now, Relaxed);
        LIVE.fetch_sub(l.size(), Relaxed);
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A two-role protocol of `n` messages, alternating direction, with
/// annotations and payloads as real files have them.
fn two_role(n: usize) -> String {
    let mut s = String::from("protocol Big =\n  roles A, B\n");
    for i in 0..n {
        if i % 2 == 0 {
            s += &format!(
                "  A[flow_cost = 1, guard_capability = \"send\"] -> B : Ping{i}(crate::m::Ping)\n"
            );
        } else {
            s += &format!("  B -> A : Pong{i}(seq: u64, digest: [u8; 32])\n");
        }
    }
    s
}

/// A ring of 20 roles passing `n` messages around.
fn ring(n: usize) -> String {
    let roles: Vec<String> = (0..20).map(|i| format!("R{i}")).collect();
    let mut s = format!("protocol Ring =\n  roles {}\n", roles.join(", "));
    for i in 0..n {
        s += &format!("  R{} -> R{} : M{i}(crate::T)\n", i % 20, (i + 1) % 20);
    }
    s
}

/// A generated input: its name and its generator.
type Case = (&'static str, fn(usize) -> String);

struct Phase {
    time: Duration,
    peak: usize,
    /// Heap still held by the phase's output.
    kept: usize,
}

/// Runs `f` `runs` times; the best time and the peak memory above the baseline.
fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, Phase) {
    let mut best = Duration::MAX;
    let mut peak = 0;
    let mut kept = 0;
    let mut out = None;
    for _ in 0..runs {
        drop(out.take());
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        peak = peak.max(PEAK.load(Relaxed) - base);
        kept = LIVE.load(Relaxed).saturating_sub(base);
        out = Some(v);
    }
    let phase = Phase {
        time: best,
        peak,
        kept,
    };
    (out.expect("at least one run"), phase)
}

fn main() {
    let runs = 5;
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>10} {:>10}",
        "case",
        "stmts",
        "parse",
        "check",
        "project",
        "print",
        "total",
        "ns/stmt",
        "peak MiB",
        "tree MiB",
        "check MiB"
    );
    // `frontend --rss FILE`: compile FILE once, as `choreoc check` does, and
    // print the heap peak and the process's peak resident set.
    if let Some(i) = std::env::args().position(|a| a == "--rss") {
        let path = std::env::args().nth(i + 1).expect("a file");
        let bytes = std::fs::read(&path).expect("readable");
        PEAK.store(LIVE.load(Relaxed), Relaxed);
        let unit = choreoc::driver::compile(&path, &bytes);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM"))
            .unwrap_or("");
        println!(
            "heap peak {:.1} MiB, {hwm}, {} diagnostics",
            PEAK.load(Relaxed) as f64 / (1 << 20) as f64,
            unit.diagnostics.len()
        );
        return;
    }
    // `frontend N`: only the two-role case at N statements.
    let only: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let sizes = only.map_or(vec![12_500, 25_000, 50_000, 100_000], |n| vec![n]);
    let cases: &[Case] = if only.is_some() {
        &[("two-role", two_role)]
    } else {
        &[("two-role", two_role), ("ring-20", ring)]
    };
    for &(name, gen) in cases {
        for &n in &sizes {
            let src = gen(n);
            let (ast, p1) = measure(runs, || {
                syntax::parse(&src).expect("generated input parses")
            });
            let (module, p2) = measure(runs, || {
                let (m, d) = check::check(&ast, "bench");
                assert!(d.is_empty(), "generated input checks");
                m
            });
            let protocol = &module.protocols[0];
            let (proj, p3) = measure(runs, || project::project(protocol).expect("projects"));
            let (_, p4) = measure(runs, || proj.display(protocol).to_string());
            let total = p1.time + p2.time + p3.time + p4.time;
            let peak = [&p1, &p2, &p3, &p4]
                .iter()
                .map(|p| p.peak)
                .max()
                .unwrap_or(0);
            let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1e3);
            // All of it as `choreoc check` runs it (parse, check, project).
            let (_, whole) = measure(runs, || {
                choreoc::driver::compile("bench.choreo", src.as_bytes())
            });
            let mib = |b: usize| b as f64 / (1 << 20) as f64;
            println!(
                "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10.0} {:>11.1} {:>10.1} {:>10.1}",
                name,
                n,
                ms(p1.time),
                ms(p2.time),
                ms(p3.time),
                ms(p4.time),
                ms(total),
                total.as_nanos() as f64 / n as f64,
                mib(peak),
                mib(p1.kept),
                mib(whole.peak)
            );
            if std::env::var_os("FRONTEND_KEPT").is_some() {
                println!(
                    "  kept: tree {:.1} model {:.1} projection {:.1} MiB",
                    mib(p1.kept),
                    mib(p2.kept),
                    mib(p3.kept)
                );
            }
        }
    }
}
