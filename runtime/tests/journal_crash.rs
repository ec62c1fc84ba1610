//! Crash safety for real: a child process (this test binary, re-invoked on
//! the ignored test `crash_child`) appends facts or runs migrations on a
//! journal file and is killed with SIGKILL at random points; each time the
//! file is reopened and checked.
//!
//! Seeded and bounded: `ITERATIONS` kills per test, each within 150 ms.
//! Set `CHOREO_CRASH_SEED` to replay another seed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use choreo_runtime::journal::migration::kinds as migration_kinds;
use choreo_runtime::journal::{
    DataWrite, Journal, Migration, MigrationContext, MigrationCoordinator, MigrationError, NewFact,
};
use choreo_runtime::transport::contract::{NodeId, SessionId};
use semver::Version;

const ITERATIONS: u64 = 30;
const MIGRATION_ITERATIONS: u64 = 20;
const ENV_MODE: &str = "CHOREO_CRASH_CHILD";
const ENV_FILE: &str = "CHOREO_CRASH_FILE";
const ENV_SEED: &str = "CHOREO_CRASH_SEED";

fn origin() -> NodeId {
    NodeId::new("crash-node")
}

/// splitmix64: a small seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    std::env::var(ENV_SEED)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c4a5)
}

/// Not a test: the child process's body, run only when re-invoked with `ENV_MODE`.
#[test]
#[ignore = "run by the crash tests in a child process"]
fn crash_child() {
    let Ok(mode) = std::env::var(ENV_MODE) else {
        return;
    };
    let path = PathBuf::from(std::env::var(ENV_FILE).expect("file"));
    let seed: u64 = std::env::var(ENV_SEED)
        .expect("seed")
        .parse()
        .expect("seed");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    match mode.as_str() {
        "append" => rt.block_on(append_child(&path, seed)),
        "migrate" => rt.block_on(migrate_child(&path)),
        other => panic!("unknown mode {other}"),
    }
}

/// Spawns the child in `mode` on `path`, kills it after `delay`, returns its
/// stdout lines.
fn run_child(mode: &str, path: &Path, seed: u64, delay: Duration) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_MODE, mode)
        .env(ENV_FILE, path)
        .env(ENV_SEED, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        })
    };
    std::thread::sleep(delay);
    // Child::kill sends SIGKILL on Unix: no destructor, no flush, no unwinding.
    child.kill().expect("kill");
    child.wait().expect("wait");
    reader.join().expect("reader");
    let lines = lines.lock().expect("lines").clone();
    lines
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("flush");
}

// ---------------------------------------------------------------- appends

/// A fact's body: the run that wrote it, its group's length, its index in
/// the group, and filler derived from them.
fn body(run: u64, len: u16, index: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(44);
    b.extend_from_slice(&run.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&index.to_le_bytes());
    let mut rng = Rng(run ^ (u64::from(len) << 32) ^ u64::from(index));
    for _ in 0..4 {
        b.extend_from_slice(&rng.next().to_le_bytes());
    }
    b
}

fn parse_body(b: &[u8]) -> Option<(u64, u16, u16)> {
    let run = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    let len = u16::from_le_bytes(b.get(8..10)?.try_into().ok()?);
    let index = u16::from_le_bytes(b.get(10..12)?.try_into().ok()?);
    (body(run, len, index) == b).then_some((run, len, index))
}

async fn append_child(path: &Path, run: u64) {
    let journal = Journal::open(path, origin()).expect("open");
    let mut rng = Rng(run);
    // Bounded even if nobody kills us.
    for _ in 0..10_000 {
        let len: u16 = match rng.below(4) {
            0 | 1 => 1,
            2 => 2 + rng.below(7) as u16,
            _ => 64,
        };
        let facts = (0..len)
            .map(|i| NewFact::new(SessionId([3; 16]), "Crash::Fact", body(run, len, i)))
            .collect();
        let seqs = journal.append(facts).await.expect("append");
        let (first, last) = (seqs[0], seqs[seqs.len() - 1]);
        say(&format!("durable {first} {last}"));
    }
}

#[test]
fn appends_survive_sigkill_whole_and_contiguous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.journal");
    let mut rng = Rng(seed());
    let mut durable: BTreeMap<u64, u64> = BTreeMap::new(); // seq -> run that reported it
    let mut killed_with_facts = 0;
    for run in 1..=ITERATIONS {
        let delay = Duration::from_millis(5 + rng.below(145));
        let lines = run_child("append", &path, run, delay);
        let mut reported = 0;
        for line in &lines {
            let Some(rest) = line.strip_prefix("durable ") else {
                continue;
            };
            let (first, last) = rest.split_once(' ').expect("two seqs");
            let (first, last): (u64, u64) =
                (first.parse().expect("seq"), last.parse().expect("seq"));
            for seq in first..=last {
                durable.insert(seq, run);
            }
            reported += 1;
        }
        if reported > 0 {
            killed_with_facts += 1;
        }
        check_appends(&path, &durable, run);
    }
    println!(
        "{ITERATIONS} kills, {killed_with_facts} after some append, {} facts reported durable",
        durable.len()
    );
    assert!(
        killed_with_facts >= ITERATIONS / 3,
        "only {killed_with_facts} of {ITERATIONS} children got to append before the kill"
    );
}

/// Reopens the journal and checks: contiguous seqs 1..=head, every group
/// whole, every fact reported durable present with its content.
fn check_appends(path: &Path, durable: &BTreeMap<u64, u64>, run: u64) {
    if !path.exists() {
        // Killed before the file was first renamed into place.
        assert!(
            durable.is_empty(),
            "run {run}: facts reported durable but no file"
        );
        return;
    }
    let journal =
        Journal::open(path, origin()).unwrap_or_else(|e| panic!("run {run}: reopen: {e}"));
    let head = journal.head(&origin()).expect("head");
    let facts = journal.since(&origin(), 0, usize::MAX).expect("facts");
    assert_eq!(facts.len() as u64, head, "run {run}: facts beyond the head");
    assert_eq!(journal.len().expect("len"), head, "run {run}");
    let mut expect_index = 0u16;
    let mut group_len = 0u16;
    for (i, fact) in facts.iter().enumerate() {
        assert_eq!(fact.seq, i as u64 + 1, "run {run}: seqs not contiguous");
        let (fact_run, len, index) = parse_body(&fact.body)
            .unwrap_or_else(|| panic!("run {run}: fact {} has a torn body", fact.seq));
        if index == 0 {
            assert_eq!(
                expect_index, group_len,
                "run {run}: group before {} cut short",
                fact.seq
            );
            group_len = len;
            expect_index = 0;
        }
        assert_eq!(
            (index, len),
            (expect_index, group_len),
            "run {run}: fact {}",
            fact.seq
        );
        expect_index += 1;
        if let Some(&reported_by) = durable.get(&fact.seq) {
            assert_eq!(
                fact_run, reported_by,
                "run {run}: fact {} was overwritten",
                fact.seq
            );
        }
    }
    assert_eq!(
        expect_index, group_len,
        "run {run}: the last group is half-written"
    );
    let last_durable = durable.keys().next_back().copied().unwrap_or(0);
    assert!(
        head >= last_durable,
        "run {run}: head {head} lost durable fact {last_durable}"
    );
}

// ------------------------------------------------------------- migrations

const KEYS: usize = 48;

fn v(minor: u64) -> Version {
    Version::new(1, minor, 0)
}

/// The data as the model says it is after `steps` migrations.
fn model(steps: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut data = base();
    for step in 1..=steps {
        transform(step, &mut data);
    }
    data
}

fn base() -> BTreeMap<Vec<u8>, Vec<u8>> {
    (0..KEYS)
        .map(|i| {
            (
                format!("item/{i:03}").into_bytes(),
                format!("v{i}").into_bytes(),
            )
        })
        .collect()
}

/// Step 1 and 3 tag every value, step 2 drops odd items, step 4 adds a count.
fn transform(step: u64, data: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    match step {
        2 => data.retain(|k, _| k.last().is_some_and(|c| c % 2 == 0)),
        4 => {
            let count = data.len().to_string().into_bytes();
            data.insert(b"item/count".to_vec(), count);
        }
        _ => {
            for value in data.values_mut() {
                value.extend_from_slice(format!("|s{step}").as_bytes());
            }
        }
    }
}

/// Migrates through `ctx` the way [`transform`] says, slowly, so a kill
/// can land mid-step.
struct Step(u64);

#[async_trait]
impl Migration for Step {
    fn source_version(&self) -> Version {
        v(self.0 - 1)
    }
    fn target_version(&self) -> Version {
        v(self.0)
    }
    fn name(&self) -> &str {
        ["", "tag-1", "drop-odd", "tag-3", "count"][self.0 as usize]
    }
    async fn validate(&self, ctx: &MigrationContext) -> Result<(), MigrationError> {
        if ctx.entries_with_prefix(b"item/")?.is_empty() {
            return Err(MigrationError::rejected("no items"));
        }
        Ok(())
    }
    async fn execute(&self, ctx: &MigrationContext) -> Result<(), MigrationError> {
        let before: BTreeMap<_, _> = ctx.entries_with_prefix(b"item/")?.into_iter().collect();
        let mut after = before.clone();
        transform(self.0, &mut after);
        for (i, key) in before.keys().enumerate() {
            if i % 8 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            match after.get(key) {
                Some(value) => ctx.put(key, value)?,
                None => ctx.delete(key)?,
            }
        }
        for (key, value) in after.iter().filter(|(k, _)| !before.contains_key(*k)) {
            ctx.put(key, value)?;
        }
        Ok(())
    }
}

fn coordinator(journal: Journal) -> MigrationCoordinator {
    let mut c = MigrationCoordinator::new(journal);
    // Registered out of order: the coordinator orders by target.
    for step in [3, 1, 4, 2] {
        c.register(Step(step));
    }
    c
}

async fn migrate_child(path: &Path) {
    let journal = Journal::open(path, origin()).expect("open");
    let report = coordinator(journal)
        .migrate(&v(0), &v(4))
        .await
        .expect("migrate");
    say(&format!("done {}", report.applied.len()));
}

fn seed_data(path: &Path) {
    let journal = Journal::open(path, origin()).expect("open");
    let writes = base()
        .into_iter()
        .map(|(key, value)| DataWrite::Put { key, value })
        .collect();
    let seeded = NewFact::new(SessionId([0; 16]), "Test::Seeded", Vec::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(journal.commit(vec![seeded], writes))
        .expect("seed");
}

#[test]
fn a_migration_killed_midway_is_before_or_after_each_step_never_between() {
    let mut rng = Rng(seed() ^ 0x4d49_4752);
    let mut seen = [0u32; 5];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("rt");
    for run in 1..=MIGRATION_ITERATIONS {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("migrate.journal");
        seed_data(&path);
        let delay = Duration::from_millis(5 + rng.below(100));
        run_child("migrate", &path, run, delay);

        let journal = Journal::open(&path, origin()).expect("reopen");
        let coord = coordinator(journal.clone());
        let applied = journal.by_kind(migration_kinds::APPLIED).expect("applied");
        let steps = applied.len() as u64;
        seen[steps as usize] += 1;
        let names: Vec<String> = coord
            .applied()
            .expect("applied")
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names.len() as u64, steps, "run {run}: a step applied twice");
        let expected_version = (steps > 0).then(|| v(steps));
        assert_eq!(
            coord.current_version().expect("version"),
            expected_version,
            "run {run}"
        );
        assert_eq!(
            items(&journal),
            model(steps),
            "run {run}: data between steps"
        );

        let report = rt.block_on(coord.migrate(&v(0), &v(4))).expect("resume");
        assert_eq!(report.skipped.len() as u64, steps, "run {run}");
        assert_eq!(report.applied.len() as u64, 4 - steps, "run {run}");
        assert_eq!(items(&journal), model(4), "run {run}: after resuming");
        assert_eq!(
            journal.count(migration_kinds::APPLIED).expect("count"),
            4,
            "run {run}"
        );
    }
    println!("kills by number of steps applied before the kill (0..=4): {seen:?}");
    assert!(
        seen[1..4].iter().sum::<u32>() > 0,
        "no kill landed between the first and last step: {seen:?}"
    );
}

fn items(journal: &Journal) -> BTreeMap<Vec<u8>, Vec<u8>> {
    journal
        .data_with_prefix(b"item/")
        .expect("data")
        .into_iter()
        .collect()
}
