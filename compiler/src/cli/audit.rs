//! `choreoc audit`: the audit and wiring tables.

use super::report::Reporter;
use super::write::write_files;
use super::{OK, PROBLEMS};
use clap::Args;
use std::path::PathBuf;

/// Write the audit and wiring tables: per protocol, Wired or Spec-only (computed
/// from the call sites of generated runners in the code and from the evidence
/// of sessions the runtime recorded), with the inventory, priorities, wiring
/// plan, decision sources, call sites and evidence, and an annotation summary.
///
/// Reads `protocols/` and `protocols/manifest.yaml` under --root and writes
/// `generated/docs/choreography_runtime_audit.md` there (only if it changed).
/// Without --evidence every protocol is Spec-only ("no evidence");
/// `cargo xtask codegen` records evidence and passes it.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The workspace root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// A directory of evidence files (`CHOREO_EVIDENCE=DIR` while the entry
    /// points' tests ran).
    #[arg(long, value_name = "DIR")]
    evidence: Option<PathBuf>,
    /// Write nothing; exit 1 if the audit document is stale or missing.
    #[arg(long)]
    check: bool,
}

/// Runs `audit`; returns the exit code.
pub fn run(args: &AuditArgs, reporter: &mut Reporter) -> i32 {
    match choreoc::audit::audit(&args.root, args.evidence.as_deref()) {
        Ok((_, text)) => {
            let current = std::fs::read_to_string(args.root.join(choreoc::audit::OUTPUT)).ok();
            // Only line numbers and session counts differ: up to date.
            let same = current.as_deref().is_some_and(|c| {
                choreoc::audit::normalized(c) == choreoc::audit::normalized(&text)
            });
            if args.check && same {
                return OK;
            }
            let files = [(choreoc::audit::OUTPUT.to_string(), text)];
            write_files(&args.root, &files, args.check, "choreoc audit", reporter)
        }
        Err(failure) => match *failure {
            choreoc::audit::Failure::Invalid { file, diagnostics } => {
                reporter.diagnostics(&file, &diagnostics);
                PROBLEMS
            }
            choreoc::audit::Failure::Io(e) => reporter.usage(e),
        },
    }
}
