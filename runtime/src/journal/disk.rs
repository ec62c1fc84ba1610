//! The on-disk store: one redb file per node. Every transaction commits with
//! `Durability::Immediate` (fsync'd before `commit` returns); redb's
//! checksummed commit slots make a transaction all-or-nothing across crashes.
//!
//! Opening checks the whole file's integrity (redb's check on open), so a
//! truncated or damaged file is a typed [`JournalError`] naming the file,
//! never a panic and never a silent repair that drops committed data.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use redb::{
    Builder, Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, TableError,
};

use super::error::JournalError;
use super::store::{FactStore, Record, TxnBody, WriteTxn};
use super::{DataEntry, Durability, Fact};
use crate::transport::contract::NodeId;

/// Facts by `(origin, seq)`; the value is the postcard-encoded [`Record`].
const FACTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("facts");
/// The contiguous head of each origin.
const HEADS: TableDefinition<&str, u64> = TableDefinition::new("heads");
/// The by-kind index: `(kind, origin, seq)`.
const KINDS: TableDefinition<(&str, &str, u64), ()> = TableDefinition::new("kinds");
/// How many facts of each kind.
const KIND_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("kind_counts");
/// The data table migrations and services write with their facts.
const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("data");
/// `format` (the layout version) and `origin` (the node the file belongs to).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The layout version this code writes and reads.
const FORMAT: &[u8] = b"choreo-journal/1";

/// A [`FactStore`] in a redb file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens the journal file at `path` for `origin`, creating it when it does
    /// not exist. A new file is initialised beside `path` and renamed into
    /// place, so a file at `path` is always a complete journal: an empty or
    /// short one is reported as corrupted, never silently re-initialised.
    pub fn open(path: &Path, origin: &NodeId) -> Result<RedbStore, JournalError> {
        let path = path.to_path_buf();
        match fs::metadata(&path) {
            Ok(meta) if meta.len() == 0 => {
                return Err(JournalError::Corrupted {
                    path,
                    reason: "empty file (a journal file is never empty)".to_owned(),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path, origin)?,
            Err(e) => return Err(io(&path, e)),
        }
        let db = open_checked(&path)?;
        let store = RedbStore { db, path };
        store.check_meta(origin)?;
        Ok(store)
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the file is a journal of this format, for `origin`.
    fn check_meta(&self, origin: &NodeId) -> Result<(), JournalError> {
        let not_a_journal = |reason: String| JournalError::NotAJournal {
            path: self.path.clone(),
            reason,
        };
        let missing = |e: TableError| match e {
            TableError::TableDoesNotExist(name) => not_a_journal(format!("no {name} table")),
            other => self.err(other),
        };
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = txn.open_table(META).map_err(missing)?;
        let format = meta.get("format").map_err(|e| self.err(e))?;
        if format.as_ref().map(|v| v.value()) != Some(FORMAT) {
            return Err(not_a_journal("missing or unknown format".to_owned()));
        }
        let found = meta.get("origin").map_err(|e| self.err(e))?;
        let found = found
            .as_ref()
            .map(|v| String::from_utf8_lossy(v.value()).into_owned());
        match found {
            Some(found) if found == origin.as_str() => {}
            Some(found) => {
                return Err(JournalError::OriginMismatch {
                    path: self.path.clone(),
                    expected: origin.clone(),
                    found: NodeId::new(found),
                })
            }
            None => return Err(not_a_journal("no origin recorded".to_owned())),
        }
        txn.open_table(FACTS).map_err(missing)?;
        txn.open_table(HEADS).map_err(missing)?;
        txn.open_table(KINDS).map_err(missing)?;
        txn.open_table(KIND_COUNTS).map_err(missing)?;
        txn.open_table(DATA).map_err(missing)?;
        Ok(())
    }

    fn err(&self, e: impl Into<redb::Error>) -> JournalError {
        storage(&self.path, e.into())
    }

    fn decode(&self, origin: &str, seq: u64, bytes: &[u8]) -> Result<Record, JournalError> {
        decode(&self.path, origin, seq, bytes)
    }
}

/// Initialises a journal for `origin` in a temporary file and renames it to `path`.
fn create(path: &Path, origin: &NodeId) -> Result<(), JournalError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".init");
    let tmp = path.with_file_name(name);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&tmp, e)),
    }
    {
        let db = Database::create(&tmp).map_err(|e| storage(&tmp, e.into()))?;
        let err = |e: redb::Error| storage(&tmp, e);
        let mut txn = db.begin_write().map_err(|e| err(e.into()))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| err(e.into()))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
            meta.insert("format", FORMAT).map_err(|e| err(e.into()))?;
            meta.insert("origin", origin.as_str().as_bytes())
                .map_err(|e| err(e.into()))?;
            txn.open_table(FACTS).map_err(|e| err(e.into()))?;
            txn.open_table(HEADS).map_err(|e| err(e.into()))?;
            txn.open_table(KINDS).map_err(|e| err(e.into()))?;
            txn.open_table(KIND_COUNTS).map_err(|e| err(e.into()))?;
            txn.open_table(DATA).map_err(|e| err(e.into()))?;
        }
        txn.commit().map_err(|e| err(e.into()))?;
    }
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, e))?;
    }
    Ok(())
}

/// Opens `path` with redb's full integrity check; a panic inside redb on a
/// damaged file (its debug assertions) is reported as corruption too.
fn open_checked(path: &Path) -> Result<Database, JournalError> {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        let mut builder = Builder::new();
        builder.set_check_integrity_on_open(true);
        builder.open(path)
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(JournalError::Locked {
            path: path.to_path_buf(),
        }),
        Ok(Err(e)) => Err(storage(path, e.into())),
        Err(_) => Err(JournalError::Corrupted {
            path: path.to_path_buf(),
            reason: "the store failed while checking the file".to_owned(),
        }),
    }
}

/// A redb failure on `path` as a journal error: damage is `Corrupted`,
/// anything else `Io`.
fn storage(path: &Path, e: redb::Error) -> JournalError {
    use std::io::ErrorKind;
    let path = path.to_path_buf();
    match e {
        redb::Error::Corrupted(reason) => JournalError::Corrupted { path, reason },
        redb::Error::Io(e)
            if matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof) =>
        {
            JournalError::Corrupted {
                path,
                reason: e.to_string(),
            }
        }
        redb::Error::DatabaseAlreadyOpen => JournalError::Locked { path },
        redb::Error::UpgradeRequired(v) => JournalError::NotAJournal {
            path,
            reason: format!("store file format {v} needs an upgrade"),
        },
        other => JournalError::Io {
            path,
            reason: other.to_string(),
        },
    }
}

fn io(path: &Path, e: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn decode(path: &Path, origin: &str, seq: u64, bytes: &[u8]) -> Result<Record, JournalError> {
    postcard::from_bytes(bytes).map_err(|e| JournalError::Corrupted {
        path: path.to_path_buf(),
        reason: format!("fact {seq} of {origin} does not decode: {e}"),
    })
}

fn encode(origin: &NodeId, seq: u64, record: &Record) -> Result<Vec<u8>, JournalError> {
    postcard::to_stdvec(record).map_err(|e| JournalError::InvalidFact {
        origin: origin.clone(),
        seq,
        reason: format!("does not encode: {e}"),
    })
}

/// One redb write transaction's open tables.
struct RedbTxn<'t> {
    path: &'t Path,
    facts: Table<'t, (&'static str, u64), &'static [u8]>,
    heads: Table<'t, &'static str, u64>,
    kinds: Table<'t, (&'static str, &'static str, u64), ()>,
    kind_counts: Table<'t, &'static str, u64>,
    data: Table<'t, &'static [u8], &'static [u8]>,
}

impl RedbTxn<'_> {
    fn err(&self, e: impl Into<redb::Error>) -> JournalError {
        storage(self.path, e.into())
    }
}

impl WriteTxn for RedbTxn<'_> {
    fn record(&self, origin: &NodeId, seq: u64) -> Result<Option<Record>, JournalError> {
        let value = self
            .facts
            .get((origin.as_str(), seq))
            .map_err(|e| self.err(e))?;
        value
            .map(|v| decode(self.path, origin.as_str(), seq, v.value()))
            .transpose()
    }

    fn last_seq(&self, origin: &NodeId) -> Result<u64, JournalError> {
        let o = origin.as_str();
        let mut range = self
            .facts
            .range((o, 0)..=(o, u64::MAX))
            .map_err(|e| self.err(e))?;
        match range.next_back() {
            Some(entry) => Ok(entry.map_err(|e| self.err(e))?.0.value().1),
            None => Ok(0),
        }
    }

    fn head(&self, origin: &NodeId) -> Result<u64, JournalError> {
        let head = self.heads.get(origin.as_str()).map_err(|e| self.err(e))?;
        Ok(head.map_or(0, |h| h.value()))
    }

    fn fact_count(&self) -> Result<u64, JournalError> {
        self.facts.len().map_err(|e| self.err(e))
    }

    fn insert(&mut self, origin: &NodeId, seq: u64, record: &Record) -> Result<(), JournalError> {
        let bytes = encode(origin, seq, record)?;
        let o = origin.as_str();
        let kind = record.kind.as_str();
        self.facts
            .insert((o, seq), bytes.as_slice())
            .map_err(|e| storage(self.path, e.into()))?;
        self.kinds
            .insert((kind, o, seq), ())
            .map_err(|e| storage(self.path, e.into()))?;
        let count = self.kind_counts.get(kind).map_err(|e| self.err(e))?;
        let count = count.map_or(0, |c| c.value()) + 1;
        self.kind_counts
            .insert(kind, count)
            .map_err(|e| storage(self.path, e.into()))?;
        Ok(())
    }

    fn set_head(&mut self, origin: &NodeId, head: u64) -> Result<(), JournalError> {
        self.heads
            .insert(origin.as_str(), head)
            .map_err(|e| storage(self.path, e.into()))?;
        Ok(())
    }

    fn put_data(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), JournalError> {
        let result = match value {
            Some(value) => self.data.insert(key, value).map(|_| ()),
            None => self.data.remove(key).map(|_| ()),
        };
        result.map_err(|e| storage(self.path, e.into()))
    }
}

impl FactStore for RedbStore {
    fn durability(&self) -> Durability {
        Durability::Immediate
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn capacity(&self) -> Option<u64> {
        None
    }

    fn write(&self, body: &mut TxnBody<'_>) -> Result<(), JournalError> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| self.err(e))?;
        let staged = {
            let tables = (|| {
                Ok::<_, TableError>(RedbTxn {
                    path: &self.path,
                    facts: txn.open_table(FACTS)?,
                    heads: txn.open_table(HEADS)?,
                    kinds: txn.open_table(KINDS)?,
                    kind_counts: txn.open_table(KIND_COUNTS)?,
                    data: txn.open_table(DATA)?,
                })
            })();
            match tables {
                Ok(mut tables) => body(&mut tables),
                Err(e) => Err(self.err(e)),
            }
        };
        match staged {
            Ok(()) => txn.commit().map_err(|e| self.err(e)),
            Err(e) => {
                // Aborting only drops staged pages; its own failure changes nothing.
                let _ = txn.abort();
                Err(e)
            }
        }
    }

    fn fact(&self, origin: &NodeId, seq: u64) -> Result<Option<Fact>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
        let value = facts.get((origin.as_str(), seq)).map_err(|e| self.err(e))?;
        match value {
            Some(v) => {
                let record = self.decode(origin.as_str(), seq, v.value())?;
                Ok(Some(record.into_fact(origin.clone(), seq)))
            }
            None => Ok(None),
        }
    }

    fn since(&self, origin: &NodeId, after: u64, limit: usize) -> Result<Vec<Fact>, JournalError> {
        let mut out = Vec::new();
        let Some(first) = after.checked_add(1) else {
            return Ok(out);
        };
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
        let o = origin.as_str();
        let range = facts
            .range((o, first)..=(o, u64::MAX))
            .map_err(|e| self.err(e))?;
        for entry in range.take(limit) {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            let seq = key.value().1;
            let record = self.decode(o, seq, value.value())?;
            out.push(record.into_fact(origin.clone(), seq));
        }
        Ok(out)
    }

    fn head(&self, origin: &NodeId) -> Result<u64, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let heads = txn.open_table(HEADS).map_err(|e| self.err(e))?;
        let head = heads.get(origin.as_str()).map_err(|e| self.err(e))?;
        Ok(head.map_or(0, |h| h.value()))
    }

    fn heads(&self) -> Result<Vec<(NodeId, u64)>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let heads = txn.open_table(HEADS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in heads.iter().map_err(|e| self.err(e))? {
            let (origin, head) = entry.map_err(|e| self.err(e))?;
            out.push((NodeId::new(origin.value()), head.value()));
        }
        Ok(out)
    }

    fn fact_count(&self) -> Result<u64, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
        facts.len().map_err(|e| self.err(e))
    }

    fn count_kind(&self, kind: &str) -> Result<u64, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let counts = txn.open_table(KIND_COUNTS).map_err(|e| self.err(e))?;
        let count = counts.get(kind).map_err(|e| self.err(e))?;
        Ok(count.map_or(0, |c| c.value()))
    }

    fn by_kind(
        &self,
        kind: &str,
        after: Option<(&NodeId, u64)>,
        limit: usize,
    ) -> Result<Vec<Fact>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let kinds = txn.open_table(KINDS).map_err(|e| self.err(e))?;
        let facts = txn.open_table(FACTS).map_err(|e| self.err(e))?;
        let (start_origin, start_seq) = after.map_or(("", 0), |(o, s)| (o.as_str(), s));
        let range = kinds
            .range((kind, start_origin, start_seq)..)
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in range {
            if out.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(|e| self.err(e))?;
            let (k, origin, seq) = key.value();
            if k != kind {
                break;
            }
            if after.is_some() && (origin, seq) == (start_origin, start_seq) {
                continue;
            }
            let value = facts.get((origin, seq)).map_err(|e| self.err(e))?;
            let Some(value) = value else {
                return Err(JournalError::Corrupted {
                    path: self.path.clone(),
                    reason: format!("kind index names fact {seq} of {origin}, which is absent"),
                });
            };
            let record = self.decode(origin, seq, value.value())?;
            out.push(record.into_fact(NodeId::new(origin), seq));
        }
        Ok(out)
    }

    fn data(&self, key: &[u8]) -> Result<Option<Vec<u8>>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let data = txn.open_table(DATA).map_err(|e| self.err(e))?;
        let value = data.get(key).map_err(|e| self.err(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn data_with_prefix(&self, prefix: &[u8]) -> Result<Vec<DataEntry>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let data = txn.open_table(DATA).map_err(|e| self.err(e))?;
        let range = data.range(prefix..).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in range {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            if !key.value().starts_with(prefix) {
                break;
            }
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }
}
