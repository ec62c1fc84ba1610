//! `choreoc check`: parse and check files, report every problem.

use super::input::InputArgs;
use super::report::Reporter;
use super::{OK, PROBLEMS};
use clap::Args;

/// Parse and check files; report every problem found.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    input: InputArgs,
}

/// Runs `check`; returns the exit code.
pub fn run(args: &CheckArgs, reporter: &mut Reporter) -> i32 {
    let units = match args.input.compile(reporter) {
        Ok(units) => units,
        Err(code) => return code,
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    reporter.note(format!(
        "checked {}: {}, {}",
        plural(units.len(), "file"),
        plural(reporter.errors, "error"),
        plural(reporter.warnings, "warning")
    ));
    if reporter.errors > 0 {
        PROBLEMS
    } else {
        OK
    }
}
