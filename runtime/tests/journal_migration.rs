//! MigrationCoordinator: planning (order, gaps, conflicts), at-most-once,
//! rollback of a failed step, dry runs and resuming after a restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use choreo_runtime::journal::migration::{kinds, VERSION_KEY};
use choreo_runtime::journal::{
    DataWrite, Journal, Migration, MigrationContext, MigrationCoordinator, MigrationError,
};
use choreo_runtime::transport::contract::NodeId;
use semver::Version;

fn v(s: &str) -> Version {
    Version::parse(s).expect("version")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
}

/// Appends `suffix` to every `item/` value; fails on demand, after writing.
struct Tag {
    name: String,
    from: Version,
    to: Version,
    suffix: String,
    fail_execute: Arc<AtomicBool>,
    fail_validate: bool,
    runs: Arc<AtomicUsize>,
}

fn tag(name: &str, from: &str, to: &str) -> Tag {
    Tag {
        name: name.to_owned(),
        from: v(from),
        to: v(to),
        suffix: format!("+{name}"),
        fail_execute: Arc::new(AtomicBool::new(false)),
        fail_validate: false,
        runs: Arc::new(AtomicUsize::new(0)),
    }
}

#[async_trait]
impl Migration for Tag {
    fn source_version(&self) -> Version {
        self.from.clone()
    }
    fn target_version(&self) -> Version {
        self.to.clone()
    }
    fn name(&self) -> &str {
        &self.name
    }
    async fn validate(&self, ctx: &MigrationContext) -> Result<(), MigrationError> {
        if self.fail_validate {
            return Err(MigrationError::rejected("validation refused"));
        }
        if ctx.entries_with_prefix(b"item/")?.is_empty() {
            return Err(MigrationError::rejected("no items to migrate"));
        }
        Ok(())
    }
    async fn execute(&self, ctx: &MigrationContext) -> Result<(), MigrationError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        for (key, mut value) in ctx.entries_with_prefix(b"item/")? {
            value.extend_from_slice(self.suffix.as_bytes());
            ctx.put(&key, &value)?;
        }
        ctx.put(format!("marker/{}", self.name).as_bytes(), b"")?;
        if self.fail_execute.load(Ordering::SeqCst) {
            return Err(MigrationError::rejected("execute failed after writing"));
        }
        Ok(())
    }
}

fn seeded() -> Journal {
    let j = Journal::in_memory(NodeId::new("n"));
    let writes = (0..3)
        .map(|i| DataWrite::Put {
            key: format!("item/{i}").into_bytes(),
            value: format!("v{i}").into_bytes(),
        })
        .collect();
    rt().block_on(j.commit(Vec::new(), writes)).expect("seed");
    j
}

fn data(j: &Journal) -> BTreeMap<Vec<u8>, Vec<u8>> {
    j.data_with_prefix(b"").expect("data").into_iter().collect()
}

fn names(path: &[Arc<dyn Migration>]) -> Vec<&str> {
    path.iter().map(|m| m.name()).collect()
}

#[test]
fn the_path_is_ordered_by_target_and_must_be_contiguous() {
    let mut c = MigrationCoordinator::new(seeded());
    c.register(tag("c", "1.2.0", "2.0.0"))
        .register(tag("a", "1.0.0", "1.1.0"))
        .register(tag("b", "1.1.0", "1.2.0"));
    let path = c
        .get_migration_path(&v("1.0.0"), &v("2.0.0"))
        .expect("path");
    assert_eq!(names(&path), ["a", "b", "c"]);
    let middle = c
        .get_migration_path(&v("1.1.0"), &v("1.2.0"))
        .expect("path");
    assert_eq!(names(&middle), ["b"]);
    assert!(c
        .get_migration_path(&v("1.1.0"), &v("1.1.0"))
        .expect("empty")
        .is_empty());
    assert_eq!(
        c.get_migration_path(&v("1.0.0"), &v("3.0.0")).err(),
        Some(MigrationError::Gap {
            from: v("1.0.0"),
            to: v("3.0.0"),
            missing: v("2.0.0")
        })
    );
    assert_eq!(
        c.get_migration_path(&v("1.0.5"), &v("2.0.0")).err(),
        Some(MigrationError::Gap {
            from: v("1.0.5"),
            to: v("2.0.0"),
            missing: v("1.0.5")
        })
    );
    assert_eq!(
        c.get_migration_path(&v("2.0.0"), &v("1.0.0")).err(),
        Some(MigrationError::Downgrade {
            from: v("2.0.0"),
            to: v("1.0.0")
        })
    );
    assert_eq!(c.latest_version(), Some(v("2.0.0")));
}

#[test]
fn a_gap_or_a_duplicate_target_is_refused_before_anything_runs() {
    let j = seeded();
    let before = data(&j);
    let first = tag("a", "1.0.0", "1.1.0");
    let runs = first.runs.clone();
    let mut gap = MigrationCoordinator::new(j.clone());
    gap.register(first).register(tag("c", "1.2.0", "1.3.0"));
    let err = rt()
        .block_on(gap.migrate(&v("1.0.0"), &v("1.3.0")))
        .expect_err("gap");
    assert!(
        matches!(err, MigrationError::Gap { ref missing, .. } if *missing == v("1.1.0")),
        "{err}"
    );
    let mut twice = MigrationCoordinator::new(j.clone());
    twice
        .register(tag("a", "1.0.0", "1.1.0"))
        .register(tag("a2", "1.0.5", "1.1.0"));
    let err = rt()
        .block_on(twice.migrate(&v("1.0.0"), &v("1.1.0")))
        .expect_err("dup");
    assert!(
        matches!(err, MigrationError::DuplicateTarget { .. }),
        "{err}"
    );
    let mut down = MigrationCoordinator::new(j.clone());
    down.register(tag("down", "2.0.0", "1.0.0"));
    let err = rt()
        .block_on(down.migrate(&v("1.0.0"), &v("1.0.0")))
        .expect_err("down");
    assert!(matches!(err, MigrationError::NotAnUpgrade { .. }), "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran");
    assert_eq!(j.len().expect("len"), 0, "nothing was journaled");
    assert_eq!(data(&j), before);
}

#[test]
fn each_migration_is_applied_at_most_once() {
    let j = seeded();
    let (a, b) = (tag("a", "1.0.0", "1.1.0"), tag("b", "1.1.0", "1.2.0"));
    let (runs_a, runs_b) = (a.runs.clone(), b.runs.clone());
    let mut c = MigrationCoordinator::new(j.clone());
    c.register(a).register(b);
    assert!(c.needs_migration(&v("1.0.0")).expect("needs"));
    let report = rt()
        .block_on(c.migrate(&v("1.0.0"), &v("1.2.0")))
        .expect("migrate");
    assert_eq!(report.applied, ["a", "b"]);
    assert_eq!(report.version, v("1.2.0"));
    assert_eq!(j.data(b"item/0").expect("data"), Some(b"v0+a+b".to_vec()));
    assert_eq!(c.current_version().expect("version"), Some(v("1.2.0")));
    let again = rt()
        .block_on(c.migrate(&v("1.0.0"), &v("1.2.0")))
        .expect("again");
    assert!(again.applied.is_empty());
    assert_eq!(again.skipped, ["a", "b"]);
    assert_eq!(j.data(b"item/0").expect("data"), Some(b"v0+a+b".to_vec()));
    assert_eq!(
        (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst)),
        (1, 1)
    );
    assert_eq!(j.count(kinds::APPLIED).expect("count"), 2);
    assert_eq!(j.count(kinds::STARTED).expect("count"), 2);
    assert!(!c.needs_migration(&v("1.0.0")).expect("needs"));
}

#[test]
fn a_failed_step_is_rolled_back_and_the_steps_before_it_kept() {
    let j = seeded();
    let b = tag("b", "1.1.0", "1.2.0");
    b.fail_execute.store(true, Ordering::SeqCst);
    let mut c = MigrationCoordinator::new(j.clone());
    c.register(tag("a", "1.0.0", "1.1.0"))
        .register(b)
        .register(tag("c", "1.2.0", "1.3.0"));
    rt().block_on(c.migrate(&v("1.0.0"), &v("1.1.0")))
        .expect("first step");
    let after_a = data(&j);
    let err = rt()
        .block_on(c.migrate(&v("1.0.0"), &v("1.3.0")))
        .expect_err("b fails");
    match &err {
        MigrationError::StepFailed { name, phase, cause } => {
            assert_eq!((name.as_str(), phase.as_str()), ("b", "execute"));
            assert_eq!(
                **cause,
                MigrationError::rejected("execute failed after writing")
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(data(&j), after_a, "b's writes were dropped");
    assert_eq!(j.data(b"marker/b").expect("data"), None);
    assert_eq!(c.current_version().expect("version"), Some(v("1.1.0")));
    assert_eq!(j.count(kinds::FAILED).expect("count"), 1);
    let applied: Vec<String> = c
        .applied()
        .expect("applied")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(applied, ["a"]);
}

#[test]
fn a_failed_validation_runs_nothing() {
    let j = seeded();
    let before = data(&j);
    let mut bad = tag("a", "1.0.0", "1.1.0");
    bad.fail_validate = true;
    let runs = bad.runs.clone();
    let mut c = MigrationCoordinator::new(j.clone());
    c.register(bad);
    let err = rt()
        .block_on(c.migrate(&v("1.0.0"), &v("1.1.0")))
        .expect_err("validate");
    assert!(
        matches!(err, MigrationError::StepFailed { ref phase, .. } if phase == "validate"),
        "{err}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(data(&j), before);
    assert_eq!(c.current_version().expect("version"), None);
}

#[test]
fn a_dry_run_validates_each_step_on_the_previous_ones_writes_and_keeps_nothing() {
    let j = seeded();
    let before = data(&j);
    let before_len = j.len().expect("len");
    let mut c = MigrationCoordinator::new(j.clone());
    c.register(tag("a", "1.0.0", "1.1.0"))
        .register(tag("b", "1.1.0", "1.2.0"));
    rt().block_on(c.validate_migration(&v("1.0.0"), &v("1.2.0")))
        .expect("dry run");
    assert_eq!(data(&j), before);
    assert_eq!(j.len().expect("len"), before_len);

    // A second step that only validates if the first one's writes are seen.
    struct NeedsMarker;
    #[async_trait]
    impl Migration for NeedsMarker {
        fn source_version(&self) -> Version {
            v("1.2.0")
        }
        fn target_version(&self) -> Version {
            v("1.3.0")
        }
        fn name(&self) -> &str {
            "needs-marker"
        }
        async fn validate(&self, ctx: &MigrationContext) -> Result<(), MigrationError> {
            match ctx.get(b"marker/b")? {
                Some(_) => Ok(()),
                None => Err(MigrationError::rejected("b has not run")),
            }
        }
        async fn execute(&self, _: &MigrationContext) -> Result<(), MigrationError> {
            Ok(())
        }
    }
    c.register(NeedsMarker);
    rt().block_on(c.validate_migration(&v("1.0.0"), &v("1.3.0")))
        .expect("sees b");
    let alone = rt().block_on(c.validate_migration(&v("1.2.0"), &v("1.3.0")));
    assert!(
        matches!(alone, Err(MigrationError::StepFailed { .. })),
        "{alone:?}"
    );
    assert_eq!(data(&j), before);
}

#[test]
fn migrations_cannot_write_the_coordinators_keys() {
    struct Sneaky;
    #[async_trait]
    impl Migration for Sneaky {
        fn source_version(&self) -> Version {
            v("1.0.0")
        }
        fn target_version(&self) -> Version {
            v("1.1.0")
        }
        fn name(&self) -> &str {
            "sneaky"
        }
        async fn validate(&self, _: &MigrationContext) -> Result<(), MigrationError> {
            Ok(())
        }
        async fn execute(&self, ctx: &MigrationContext) -> Result<(), MigrationError> {
            ctx.put(VERSION_KEY, b"9.9.9")
        }
    }
    let j = seeded();
    let mut c = MigrationCoordinator::new(j.clone());
    c.register(Sneaky);
    let err = rt()
        .block_on(c.migrate(&v("1.0.0"), &v("1.1.0")))
        .expect_err("reserved");
    let MigrationError::StepFailed { cause, .. } = err else {
        panic!("unexpected {err}");
    };
    assert!(matches!(*cause, MigrationError::ReservedKey { .. }));
    assert_eq!(c.current_version().expect("version"), None);
}

#[test]
fn a_restarted_coordinator_resumes_after_the_last_applied_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("n.journal");
    let origin = NodeId::new("n");
    let plan = || {
        let b = tag("b", "1.1.0", "1.2.0");
        (tag("a", "1.0.0", "1.1.0"), b, tag("c", "1.2.0", "1.3.0"))
    };
    {
        let j = Journal::open(&path, origin.clone()).expect("open");
        let writes = vec![DataWrite::Put {
            key: b"item/x".to_vec(),
            value: b"x".to_vec(),
        }];
        rt().block_on(j.commit(Vec::new(), writes)).expect("seed");
        let (a, b, c3) = plan();
        b.fail_execute.store(true, Ordering::SeqCst);
        let mut c = MigrationCoordinator::new(j);
        c.register(a).register(b).register(c3);
        assert!(rt().block_on(c.migrate(&v("1.0.0"), &v("1.3.0"))).is_err());
    }
    let j = Journal::open(&path, origin).expect("reopen");
    let (a, b, c3) = plan();
    let runs_a = a.runs.clone();
    let mut c = MigrationCoordinator::new(j.clone());
    c.register(a).register(b).register(c3);
    assert_eq!(c.current_version().expect("version"), Some(v("1.1.0")));
    let report = rt()
        .block_on(c.migrate(&v("1.0.0"), &v("1.3.0")))
        .expect("resume");
    assert_eq!(report.skipped, ["a"]);
    assert_eq!(report.applied, ["b", "c"]);
    assert_eq!(
        runs_a.load(Ordering::SeqCst),
        0,
        "a ran only before the restart"
    );
    assert_eq!(j.data(b"item/x").expect("data"), Some(b"x+a+b+c".to_vec()));
    // Data at another version than the step needs is refused.
    let mut wrong = MigrationCoordinator::new(j.clone());
    wrong
        .register(tag("d", "1.3.0", "1.4.0"))
        .register(tag("e", "1.4.0", "1.5.0"));
    let err = rt()
        .block_on(wrong.migrate(&v("1.4.0"), &v("1.5.0")))
        .expect_err("mismatch");
    assert_eq!(
        err,
        MigrationError::VersionMismatch {
            expected: v("1.4.0"),
            found: v("1.3.0")
        }
    );
}
