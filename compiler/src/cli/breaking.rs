//! `choreoc breaking`: classify the changes between an old and a new version
//! of protocols as wire-breaking, API-breaking or compatible.

use super::report::{ErrorFormat, Reporter};
use super::{OK, PROBLEMS};
use choreoc::breaking::{self, render, sources, Category};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// Compare a new version of protocols with the old one: is any change
/// wire-breaking (E1201), API-breaking (E1202) or compatible (W1203)?
///
/// Per protocol and role, the new local type must be a subtype of the old one
/// (the new role accepts everything old peers may send and sends only what they
/// accept); if the wire is compatible, the generated Rust API must be unchanged.
/// Annotation changes are reported as compatible, with what they change at run
/// time. Protocols are matched by name across all files of each version. Exit
/// code 1 when anything breaking is found (API breaks are warnings with
/// `--allow api`). See docs/evolution.md.
#[derive(Args, Debug)]
pub struct BreakingArgs {
    /// The old version: a .choreo file or a directory.
    #[arg(
        long,
        value_name = "OLD",
        required_unless_present = "against_git",
        conflicts_with = "against_git"
    )]
    against: Option<PathBuf>,
    /// The old version is the NEW paths as they are at this git revision.
    #[arg(long, value_name = "REV")]
    against_git: Option<String>,
    /// The new version: .choreo files or directories.
    #[arg(required = true, value_name = "NEW")]
    new: Vec<PathBuf>,
    /// Accept a category of breaking change (still reported, as warnings).
    #[arg(long, value_enum, value_name = "CATEGORY")]
    allow: Vec<Allow>,
}

/// A category of breaking change that `--allow` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Allow {
    /// API-breaking changes (E1202): the wire is compatible.
    Api,
}

/// Runs `breaking`; returns the exit code.
pub fn run(args: &BreakingArgs, reporter: &mut Reporter) -> i32 {
    let old = match (&args.against, &args.against_git) {
        (Some(path), _) => sources::from_paths(std::slice::from_ref(path)),
        (None, Some(rev)) => sources::from_git(rev, &args.new),
        (None, None) => Err("give the old version with --against or --against-git".into()),
    };
    let (old, new) = match (old, sources::from_paths(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => return reporter.usage(e),
    };
    let mut errors = 0;
    for unit in old.units.iter().chain(&new.units) {
        errors += reporter.diagnostics(&unit.file, &unit.diagnostics);
    }
    if errors > 0 {
        return PROBLEMS;
    }
    let findings = match breaking::compare(&old, &new) {
        Ok(f) => f,
        Err(e) => return reporter.usage(e),
    };
    let allow_api = args.allow.contains(&Allow::Api);
    let new_files: Vec<_> = new.units.iter().map(|u| u.file.clone()).collect();
    let old_files: Vec<_> = old.units.iter().map(|u| u.file.clone()).collect();
    let mut failing = 0;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for f in &findings {
        let level = render::level(f, allow_api);
        failing += usize::from(level == render::Level::Error);
        let _ = match reporter.format() {
            ErrorFormat::Human => write!(
                err,
                "{}",
                render::human(f, level, &new_files, &old_files, reporter.color())
            ),
            ErrorFormat::Json => {
                writeln!(out, "{}", render::json(f, level, &new_files, &old_files))
            }
            ErrorFormat::Github => {
                writeln!(out, "{}", render::github(f, level, &new_files, &old_files))
            }
        };
    }
    let count = |c: Category| findings.iter().filter(|f| f.category == c).count();
    reporter.note(format!(
        "breaking: {} wire-breaking, {} API-breaking, {} compatible change(s)",
        count(Category::Wire),
        count(Category::Api),
        count(Category::Compatible)
    ));
    if failing > 0 {
        PROBLEMS
    } else {
        OK
    }
}
