//! Data migrations between versions, committed through the journal.
//!
//! A [`Migration`] reads and writes the journal's data table through a
//! [`MigrationContext`], which stages every write in memory. The coordinator
//! commits a step's staged writes, the new data version and its
//! `Migration::Applied` fact in one atomic journal group, and only when the
//! step's `validate` and `execute` both succeeded; a failed step's writes are
//! dropped, so the data is exactly as before it. After a crash a step is
//! therefore either applied (with its fact) or not at all, and rerunning
//! [`MigrationCoordinator::migrate`] skips what the journal says was applied.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use semver::Version;
use serde::{Deserialize, Serialize};

use super::{
    DataEntry, DataWrite, Journal, JournalError, NewFact, MAX_BODY, MAX_DATA_KEY, NO_SESSION,
};

/// The fact kinds the coordinator records.
pub mod kinds {
    /// A step began (progress; a crash may follow it).
    pub const STARTED: &str = "Migration::Started";
    /// A step's writes were committed with this fact.
    pub const APPLIED: &str = "Migration::Applied";
    /// A step failed and its writes were dropped.
    pub const FAILED: &str = "Migration::Failed";
}

/// Data keys starting with this are the coordinator's; migrations cannot write them.
pub const RESERVED_PREFIX: &[u8] = b"\0choreo/";
/// The data key holding the current data version (its text form).
pub const VERSION_KEY: &[u8] = b"\0choreo/data-version";

/// One data migration from [`Migration::source_version`] to
/// [`Migration::target_version`].
#[async_trait]
pub trait Migration: Send + Sync {
    /// The version the data must be at.
    fn source_version(&self) -> Version;
    /// The version the data is at afterwards.
    fn target_version(&self) -> Version;
    /// A name, recorded in the journal.
    fn name(&self) -> &str;
    /// Checks that the data can be migrated; writes nothing that is kept.
    async fn validate(&self, ctx: &MigrationContext) -> Result<(), MigrationError>;
    /// Transforms the data through `ctx`.
    async fn execute(&self, ctx: &MigrationContext) -> Result<(), MigrationError>;
}

/// Why a migration could not be planned or run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Two registered migrations have the same target version.
    #[error("migrations {first} and {second} both target {target}")]
    DuplicateTarget {
        /// The version.
        target: Version,
        /// One migration.
        first: String,
        /// The other.
        second: String,
    },
    /// A registered migration does not go up (target ≤ source).
    #[error("migration {name} goes from {source_version} to {target}, which is not an upgrade")]
    NotAnUpgrade {
        /// The migration.
        name: String,
        /// Its source.
        source_version: Version,
        /// Its target.
        target: Version,
    },
    /// No registered migration starts at `missing` on the way from `from` to `to`.
    #[error("no migration path from {from} to {to}: nothing migrates from {missing}")]
    Gap {
        /// The requested start.
        from: Version,
        /// The requested end.
        to: Version,
        /// The version no migration starts from.
        missing: Version,
    },
    /// `to` is below `from`.
    #[error("cannot migrate down from {from} to {to}")]
    Downgrade {
        /// The requested start.
        from: Version,
        /// The requested end.
        to: Version,
    },
    /// The data is not at the version the next step needs.
    #[error("data is at version {found}, the next migration needs {expected}")]
    VersionMismatch {
        /// The version the step needs.
        expected: Version,
        /// The stored version.
        found: Version,
    },
    /// The journal records steps of this path as applied out of order.
    #[error("migration {name} is recorded as applied after an unapplied earlier step")]
    OutOfOrder {
        /// The step recorded as applied.
        name: String,
    },
    /// A step's `validate` or `execute` failed; its writes were dropped.
    #[error("migration {name} failed in {phase}: {cause}")]
    StepFailed {
        /// The step.
        name: String,
        /// `validate` or `execute`.
        phase: String,
        /// What the step reported.
        cause: Box<MigrationError>,
    },
    /// A migration tried to write a key reserved for the coordinator.
    #[error("data key {key:?} is reserved for the coordinator")]
    ReservedKey {
        /// The key.
        key: Vec<u8>,
    },
    /// A migration's own failure.
    #[error("{0}")]
    Rejected(String),
}

impl MigrationError {
    /// A migration's own failure, with `message`.
    pub fn rejected(message: impl Into<String>) -> Self {
        MigrationError::Rejected(message.into())
    }
}

/// What a migration reads and writes: the journal's data table as committed,
/// overlaid with this step's staged writes (which the coordinator commits
/// only if the step succeeds).
pub struct MigrationContext {
    journal: Journal,
    source: Version,
    target: Version,
    staged: Mutex<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl MigrationContext {
    fn new(journal: Journal, source: Version, target: Version, staged: Staged) -> Self {
        MigrationContext {
            journal,
            source,
            target,
            staged: Mutex::new(staged),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The version the data is migrated from.
    pub fn source_version(&self) -> &Version {
        &self.source
    }

    /// The version the data is migrated to.
    pub fn target_version(&self) -> &Version {
        &self.target
    }

    /// The journal, to read facts (writes go through the context).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The value under `key`, seeing this step's staged writes.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MigrationError> {
        if let Some(staged) = self.lock().get(key) {
            return Ok(staged.clone());
        }
        Ok(self.journal.data(key)?)
    }

    /// Every entry whose key starts with `prefix`, seeing staged writes, in
    /// key order (reserved keys excluded).
    pub fn entries_with_prefix(&self, prefix: &[u8]) -> Result<Vec<DataEntry>, MigrationError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.journal.data_with_prefix(prefix)?.into_iter().collect();
        let staged = self.lock();
        let range = staged
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        for (key, value) in range {
            match value {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged
            .into_iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
            .collect())
    }

    /// Stages `key` = `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), MigrationError> {
        check_key(key)?;
        if value.len() > MAX_BODY {
            return Err(JournalError::InvalidData {
                reason: format!("value of {} bytes (max {MAX_BODY})", value.len()),
            }
            .into());
        }
        self.lock().insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Stages the removal of `key`.
    pub fn delete(&self, key: &[u8]) -> Result<(), MigrationError> {
        check_key(key)?;
        self.lock().insert(key.to_vec(), None);
        Ok(())
    }

    fn into_staged(self) -> Staged {
        self.staged.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

type Staged = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn check_key(key: &[u8]) -> Result<(), MigrationError> {
    if key.starts_with(RESERVED_PREFIX) {
        return Err(MigrationError::ReservedKey { key: key.to_vec() });
    }
    if key.is_empty() || key.len() > MAX_DATA_KEY {
        return Err(JournalError::InvalidData {
            reason: format!("key of {} bytes (1 to {MAX_DATA_KEY})", key.len()),
        }
        .into());
    }
    Ok(())
}

/// A step as recorded in the journal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepRecord {
    /// The migration's name.
    pub name: String,
    /// Its source version.
    pub source: String,
    /// Its target version.
    pub target: String,
}

#[derive(Serialize, Deserialize)]
struct FailedBody {
    step: StepRecord,
    phase: String,
    reason: String,
}

/// What [`MigrationCoordinator::migrate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Steps run and committed now, in order.
    pub applied: Vec<String>,
    /// Steps the journal already recorded as applied.
    pub skipped: Vec<String>,
    /// The data version afterwards.
    pub version: Version,
}

/// Plans and runs migrations over a journal's data table. Use one
/// coordinator per journal.
pub struct MigrationCoordinator {
    journal: Journal,
    migrations: Vec<Arc<dyn Migration>>,
    running: tokio::sync::Mutex<()>,
}

impl MigrationCoordinator {
    /// A coordinator with no migrations, over `journal`.
    pub fn new(journal: Journal) -> Self {
        MigrationCoordinator {
            journal,
            migrations: Vec::new(),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Adds `migration`; conflicts are reported when a path is planned.
    pub fn register(&mut self, migration: impl Migration + 'static) -> &mut Self {
        self.migrations.push(Arc::new(migration));
        self
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The highest target version registered.
    pub fn latest_version(&self) -> Option<Version> {
        self.migrations.iter().map(|m| m.target_version()).max()
    }

    /// The data version recorded by the last applied step (`None` before any).
    pub fn current_version(&self) -> Result<Option<Version>, MigrationError> {
        let Some(bytes) = self.journal.data(VERSION_KEY)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        Version::parse(&text).map(Some).map_err(|e| {
            MigrationError::Journal(JournalError::InvalidData {
                reason: format!("stored data version {text:?}: {e}"),
            })
        })
    }

    /// The steps the journal records as applied (deduplicated).
    pub fn applied(&self) -> Result<BTreeSet<StepRecord>, MigrationError> {
        let mut applied = BTreeSet::new();
        for fact in self.journal.by_kind(kinds::APPLIED)? {
            if let Ok(step) = postcard::from_bytes::<StepRecord>(&fact.body) {
                applied.insert(step);
            }
        }
        Ok(applied)
    }

    /// Whether data at `from` needs migrating to [`Self::latest_version`]:
    /// some step of that path is not recorded as applied.
    pub fn needs_migration(&self, from: &Version) -> Result<bool, MigrationError> {
        let Some(latest) = self.latest_version().filter(|l| l > from) else {
            return Ok(false);
        };
        let path = self.get_migration_path(from, &latest)?;
        let applied = self.applied()?;
        Ok(path.iter().any(|m| !applied.contains(&record(m.as_ref()))))
    }

    /// The migrations from `from` to `to`, ordered by target version, each
    /// starting where the previous one ends. Checks every registered
    /// migration first: none may go down, no two may share a target.
    pub fn get_migration_path(
        &self,
        from: &Version,
        to: &Version,
    ) -> Result<Vec<Arc<dyn Migration>>, MigrationError> {
        let mut by_target: BTreeMap<Version, Arc<dyn Migration>> = BTreeMap::new();
        for m in &self.migrations {
            let (source, target) = (m.source_version(), m.target_version());
            if target <= source {
                return Err(MigrationError::NotAnUpgrade {
                    name: m.name().to_owned(),
                    source_version: source,
                    target,
                });
            }
            if let Some(first) = by_target.get(&target) {
                return Err(MigrationError::DuplicateTarget {
                    target,
                    first: first.name().to_owned(),
                    second: m.name().to_owned(),
                });
            }
            by_target.insert(target, m.clone());
        }
        if to < from {
            return Err(MigrationError::Downgrade {
                from: from.clone(),
                to: to.clone(),
            });
        }
        let mut path = Vec::new();
        let mut at = from.clone();
        let range = (Bound::Excluded(from), Bound::Included(to));
        for (target, m) in by_target.range::<Version, _>(range) {
            if m.source_version() != at {
                break;
            }
            at = target.clone();
            path.push(m.clone());
        }
        if &at != to {
            return Err(MigrationError::Gap {
                from: from.clone(),
                to: to.clone(),
                missing: at,
            });
        }
        Ok(path)
    }

    /// Migrates the data from `from` to `to`: plans the whole path first
    /// (nothing runs if it has a gap or a conflict), skips steps the journal
    /// records as applied, and commits each remaining step atomically with
    /// its fact. A failing step is rolled back (its writes dropped), recorded
    /// as `Migration::Failed`, and ends the run with the steps before it kept.
    pub async fn migrate(
        &self,
        from: &Version,
        to: &Version,
    ) -> Result<MigrationReport, MigrationError> {
        let _running = self.running.lock().await;
        let path = self.get_migration_path(from, to)?;
        let applied = self.applied()?;
        let mut report = MigrationReport {
            applied: Vec::new(),
            skipped: Vec::new(),
            version: self.current_version()?.unwrap_or_else(|| from.clone()),
        };
        let mut pending = false;
        for m in &path {
            let step = record(m.as_ref());
            if applied.contains(&step) {
                if pending {
                    return Err(MigrationError::OutOfOrder { name: step.name });
                }
                report.skipped.push(step.name);
                continue;
            }
            pending = true;
            let source = m.source_version();
            if let Some(found) = self.current_version()? {
                if found != source {
                    return Err(MigrationError::VersionMismatch {
                        expected: source,
                        found,
                    });
                }
            }
            self.journal
                .append(vec![fact(kinds::STARTED, &step)?])
                .await?;
            let ctx = MigrationContext::new(
                self.journal.clone(),
                source,
                m.target_version(),
                Staged::new(),
            );
            if let Err(cause) = run_step(m.as_ref(), &ctx).await {
                return Err(self.fail(step, cause).await);
            }
            let mut writes: Vec<DataWrite> = ctx
                .into_staged()
                .into_iter()
                .map(|(key, value)| match value {
                    Some(value) => DataWrite::Put { key, value },
                    None => DataWrite::Delete { key },
                })
                .collect();
            let target = m.target_version();
            writes.push(DataWrite::Put {
                key: VERSION_KEY.to_vec(),
                value: target.to_string().into_bytes(),
            });
            self.journal
                .commit(vec![fact(kinds::APPLIED, &step)?], writes)
                .await?;
            report.applied.push(step.name);
            report.version = target;
        }
        Ok(report)
    }

    /// Dry run of [`Self::migrate`]: plans the path and runs every unapplied
    /// step's `validate` and `execute` against a scratch overlay (each step
    /// seeing the previous steps' writes); records and commits nothing.
    pub async fn validate_migration(
        &self,
        from: &Version,
        to: &Version,
    ) -> Result<(), MigrationError> {
        let path = self.get_migration_path(from, to)?;
        let applied = self.applied()?;
        let mut scratch = Staged::new();
        for m in &path {
            let step = record(m.as_ref());
            if applied.contains(&step) {
                continue;
            }
            let ctx = MigrationContext::new(
                self.journal.clone(),
                m.source_version(),
                m.target_version(),
                scratch,
            );
            if let Err(cause) = run_step(m.as_ref(), &ctx).await {
                return Err(step_failed(&step, cause));
            }
            scratch = ctx.into_staged();
        }
        Ok(())
    }

    /// Records `step`'s failure and returns the error to report.
    async fn fail(
        &self,
        step: StepRecord,
        (phase, cause): (&'static str, MigrationError),
    ) -> MigrationError {
        let error = step_failed(&step, (phase, cause));
        let body = FailedBody {
            step,
            phase: phase.to_owned(),
            reason: error.to_string(),
        };
        match fact(kinds::FAILED, &body) {
            Ok(f) => match self.journal.append(vec![f]).await {
                Ok(_) => error,
                Err(e) => MigrationError::Journal(e),
            },
            Err(e) => e,
        }
    }
}

async fn run_step(
    m: &dyn Migration,
    ctx: &MigrationContext,
) -> Result<(), (&'static str, MigrationError)> {
    m.validate(ctx).await.map_err(|e| ("validate", e))?;
    m.execute(ctx).await.map_err(|e| ("execute", e))
}

fn step_failed(
    step: &StepRecord,
    (phase, cause): (&'static str, MigrationError),
) -> MigrationError {
    MigrationError::StepFailed {
        name: step.name.clone(),
        phase: phase.to_owned(),
        cause: Box::new(cause),
    }
}

fn record(m: &dyn Migration) -> StepRecord {
    StepRecord {
        name: m.name().to_owned(),
        source: m.source_version().to_string(),
        target: m.target_version().to_string(),
    }
}

fn fact<T: Serialize>(kind: &str, body: &T) -> Result<NewFact, MigrationError> {
    let body = postcard::to_stdvec(body).map_err(|e| {
        MigrationError::Journal(JournalError::InvalidData {
            reason: format!("cannot encode a {kind} fact: {e}"),
        })
    })?;
    Ok(NewFact::new(NO_SESSION, kind, body))
}
