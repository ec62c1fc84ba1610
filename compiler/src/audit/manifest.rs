//! The audit manifest (`protocols/manifest.yaml`): what cannot be derived
//! from the protocols or the code (category, ticket, priority, owner, entry
//! point, notes, the prose of decision sources). Status is never declared
//! here; it is computed from the code and the evidence (see [`super::wiring`]).

use crate::diag::{Code, Diagnostic, SourceFile, Span};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The whole manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The rationale of each migration priority.
    pub priorities: BTreeMap<Priority, String>,
    /// One entry per protocol.
    pub protocols: Vec<Spanned<Entry>>,
}

/// A migration priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Priority {
    /// Migrate first.
    High,
    /// Migrate next.
    Medium,
    /// May stay spec-only longer.
    Low,
}

impl Priority {
    /// `High`, `Medium` or `Low`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "High",
            Priority::Medium => "Medium",
            Priority::Low => "Low",
        }
    }
}

/// What the manifest says about one protocol.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The protocol's name, as declared in its `.choreo` file.
    pub protocol: Spanned<String>,
    /// The inventory section (`Recovery`, `Transport & Channels`).
    pub category: String,
    /// The tracking ticket.
    pub ticket: String,
    /// The migration priority, if it has one.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// The owning crate.
    pub owner: String,
    /// The module (a file of the workspace) that runs the protocol's roles.
    pub entry_point: String,
    /// Where the guard chain is integrated.
    pub guard_chain: String,
    /// What the wiring depends on or blocks.
    pub dependencies: String,
    /// Free notes for the inventory.
    #[serde(default)]
    pub notes: String,
    /// Where payloads of sent messages come from.
    pub provide_message: String,
    /// Where branch decisions come from (for protocols with choices).
    #[serde(default)]
    pub select_branch: Option<String>,
}

/// Parses the manifest, reporting YAML errors, unknown keys and bad values
/// at their line and column.
pub fn parse(file: &SourceFile) -> Result<Manifest, Diagnostic> {
    serde_saphyr::from_str::<Manifest>(file.text()).map_err(|e| {
        let span = e
            .location()
            .map_or(Span::new(0, 0), |l| at(file, l.line(), l.column()));
        let message = e.to_string();
        let first = message
            .lines()
            .next()
            .unwrap_or("invalid manifest")
            .to_string();
        Diagnostic::new(
            Code::ManifestInvalid,
            format!("audit manifest: {first}"),
            span,
            "here",
        )
        .with_help("see docs/audit.md for the manifest's keys and values")
    })
}

/// The byte span of the text at a 1-based line and column of `file`.
pub fn at(file: &SourceFile, line: u64, column: u64) -> Span {
    let text = file.text();
    let start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1) as usize)
        .map(str::len)
        .sum::<usize>();
    let line_text = &text[start.min(text.len())..];
    let offset: usize = line_text
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(char::len_utf8)
        .sum();
    let begin = (start + offset).min(text.len());
    let end = text[begin..]
        .find(['\n', ':'])
        .map_or(text.len(), |n| begin + n.max(1));
    Span::new(begin, end)
}

/// Checks the manifest against the protocols found: each protocol has
/// exactly one entry and every entry names a protocol.
pub fn check(manifest: &Manifest, file: &SourceFile, protocols: &[String]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for entry in &manifest.protocols {
        let name = &entry.value.protocol;
        let span = at(file, name.referenced.line(), name.referenced.column());
        if !protocols.contains(&name.value) {
            diags.push(
                Diagnostic::new(
                    Code::ManifestOrphan,
                    format!(
                        "the manifest describes `{}`, which no file in protocols/ declares",
                        name.value
                    ),
                    span,
                    "no such protocol",
                )
                .with_help("remove the entry, or fix the protocol name"),
            );
        }
        if let Some(first) = seen.insert(&name.value, span) {
            diags.push(
                Diagnostic::new(
                    Code::ManifestDuplicate,
                    format!("`{}` has two entries in the manifest", name.value),
                    span,
                    "described again here",
                )
                .with_label(first, "first described here"),
            );
        }
    }
    for p in protocols {
        if !seen.contains_key(p.as_str()) {
            let end = file.text().len();
            diags.push(
                Diagnostic::new(
                    Code::ManifestMissing,
                    format!("protocol `{p}` has no entry in the audit manifest"),
                    Span::new(end, end),
                    "missing entry",
                )
                .with_help(format!(
                    "add `- protocol: {p}` with its category, ticket, owner and entry point"
                )),
            );
        }
    }
    diags
}
