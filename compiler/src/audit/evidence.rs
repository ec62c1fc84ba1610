//! Evidence that runners ran: the JSON lines the runtime appends to
//! `<dir>/evidence-<pid>.jsonl` for every session a generated `execute_as`
//! ran while `CHOREO_EVIDENCE=<dir>` was set (see the runtime's `evidence`
//! module). Every `*.jsonl` file of the directory is read, in name order.

use crate::diag::{Code, Diagnostic, SourceFile, Span};
use serde::Deserialize;
use std::path::Path;

/// One session as the runtime recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The protocol's name.
    pub protocol: String,
    /// The generated crate's `PROTOCOL.digest`, as 32 hex digits.
    pub digest: String,
    /// The peer the session ran as (`Guardian[1]`, `Initiator`).
    pub peer: String,
    /// `completed`, or `failed: <why>`.
    pub outcome: String,
    /// `file:line:column` of the `execute_as` call that ran it.
    pub entry: String,
    /// The test (thread) it ran in, if the thread had a name.
    pub test: Option<String>,
    /// Every message sent (`!Peer.Label`) and received (`?Peer.Label`), in order.
    pub trace: Vec<String>,
}

/// Where an `execute_as` call is, as the runtime names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The file, relative to the workspace root, with `/` separators.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// The 1-based column (in characters).
    pub column: usize,
}

impl Record {
    /// Whether the session ran to its end.
    pub fn completed(&self) -> bool {
        self.outcome == "completed"
    }

    /// The entry point, with `root` taken off an absolute file name.
    pub fn entry_at(&self, root: &Path) -> Option<Entry> {
        let mut parts = self.entry.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        let file = parts.next()?.replace('\\', "/");
        let root = root.to_string_lossy().replace('\\', "/");
        let root = root.trim_end_matches('/');
        let file = match file.strip_prefix(root) {
            Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
            _ => file,
        };
        Some(Entry {
            file: file.trim_start_matches("./").to_string(),
            line,
            column,
        })
    }
}

/// Reads every record under `dir`. A line that is not a record is an
/// `E1005` error at that line; a directory that cannot be read is an I/O
/// error.
pub fn read(dir: &Path) -> Result<Vec<Record>, ReadError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ReadError::Io(format!("{}: {e}", dir.display())))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ReadError::Io(format!("{}: {e}", path.display())))?;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let body = line.trim_end();
            if !body.is_empty() {
                match serde_json::from_str::<Record>(body) {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        let name = path.file_name().map_or_else(
                            || path.display().to_string(),
                            |n| n.to_string_lossy().into_owned(),
                        );
                        let file = SourceFile::new(&name, text.clone());
                        let span = Span::new(offset, offset + body.len());
                        let d = Diagnostic::new(
                            Code::EvidenceInvalid,
                            format!("evidence: this line is not a session record: {e}"),
                            span,
                            "not a record",
                        )
                        .with_help(
                            "evidence files are written by the runtime (CHOREO_EVIDENCE); delete the directory and run the tests again",
                        );
                        return Err(ReadError::Invalid(Box::new((file, d))));
                    }
                }
            }
            offset += line.len();
        }
    }
    Ok(out)
}

/// Why evidence could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The directory or a file could not be read.
    Io(String),
    /// A line of a file is not a record: the file and the diagnostic.
    Invalid(Box<(SourceFile, Diagnostic)>),
}
