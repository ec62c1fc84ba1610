//! Evidence that runners ran: when the environment variable
//! `CHOREO_EVIDENCE` names a directory, every session run through a generated
//! `execute_as` appends one JSON line to `<dir>/evidence-<pid>.jsonl` when it
//! ends: the protocol and its digest, the peer it played, how it ended, the
//! entry point that ran it (the caller of `execute_as`), the test (thread)
//! it ran in, and its trace of sent and received messages. The audit
//! (`choreoc audit`) reads these files to decide which protocols are Wired.
//!
//! With the variable unset nothing is recorded and nothing is traced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::panic::Location;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::Serialize;

/// The variable that switches evidence on.
pub const VARIABLE: &str = "CHOREO_EVIDENCE";

/// Where a run of a role came from: the caller of `execute_as` and the
/// thread (for a test, the test's name) that called it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPoint {
    /// The source location of the call.
    pub site: &'static Location<'static>,
    /// The calling thread's name, if it has one.
    pub thread: Option<String>,
}

impl EntryPoint {
    /// The entry point of the caller (`#[track_caller]` functions pass theirs on).
    #[track_caller]
    pub fn capture() -> EntryPoint {
        let thread = enabled()
            .then(|| std::thread::current().name().map(str::to_owned))
            .flatten();
        EntryPoint {
            site: Location::caller(),
            thread,
        }
    }
}

/// One line of an evidence file.
#[derive(Serialize)]
pub(crate) struct Record<'a> {
    pub protocol: &'a str,
    pub digest: String,
    pub peer: String,
    /// `completed`, or `failed: <error>`.
    pub outcome: String,
    /// `file:line:column` of the caller of `execute_as`.
    pub entry: String,
    pub test: Option<&'a str>,
    /// `!Peer.Label` or `?Peer.Label`, in order.
    pub trace: &'a [String],
}

struct Sink {
    dir: PathBuf,
    file: Mutex<Option<File>>,
}

fn sink() -> Option<&'static Sink> {
    static SINK: OnceLock<Option<Sink>> = OnceLock::new();
    SINK.get_or_init(|| {
        let dir = std::env::var_os(VARIABLE).filter(|d| !d.is_empty())?;
        Some(Sink {
            dir: PathBuf::from(dir),
            file: Mutex::new(None),
        })
    })
    .as_ref()
}

/// Whether evidence is being recorded.
pub fn enabled() -> bool {
    sink().is_some()
}

/// Appends `record` to this process's evidence file. Evidence never fails
/// a session: a file that cannot be opened is reported on stderr and the
/// record dropped.
pub(crate) fn write(record: &Record<'_>) {
    let Some(sink) = sink() else { return };
    let Ok(mut line) = serde_json::to_string(record) else {
        return;
    };
    line.push('\n');
    let mut file = sink.file.lock().unwrap_or_else(PoisonError::into_inner);
    if file.is_none() {
        let path = sink
            .dir
            .join(format!("evidence-{}.jsonl", std::process::id()));
        let opened = std::fs::create_dir_all(&sink.dir)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
        match opened {
            Ok(f) => *file = Some(f),
            Err(e) => {
                eprintln!(
                    "choreo-runtime: cannot record evidence in {}: {e}",
                    path.display()
                );
                return;
            }
        }
    }
    if let Some(f) = file.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
}
