//! `choreoc audit`: the audit and wiring tables.

use super::report::Reporter;
use super::write::write_files;
use super::PROBLEMS;
use clap::Args;
use std::path::PathBuf;

/// Write the audit and wiring tables: per protocol, Wired or Spec-only (computed
/// from the call sites of generated runners in the code), with the inventory,
/// priorities, wiring plan, decision sources and an annotation summary.
///
/// Reads `protocols/` and `protocols/manifest.yaml` under --root and writes
/// `generated/docs/choreography_runtime_audit.md` there (only if it changed).
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The workspace root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Write nothing; exit 1 if the audit document is stale or missing.
    #[arg(long)]
    check: bool,
}

/// Runs `audit`; returns the exit code.
pub fn run(args: &AuditArgs, reporter: &mut Reporter) -> i32 {
    match choreoc::audit::audit(&args.root) {
        Ok((_, text)) => {
            let files = [(choreoc::audit::OUTPUT.to_string(), text)];
            write_files(&args.root, &files, args.check, "choreoc audit", reporter)
        }
        Err(failure) => {
            reporter.diagnostics(&failure.file, &failure.diagnostics);
            PROBLEMS
        }
    }
}
