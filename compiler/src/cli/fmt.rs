//! `choreoc fmt`: rewrite files in the canonical layout, or (`--check`) show
//! the diff of each file that is not in it.

use super::input::{InputArgs, Source};
use super::report::Reporter;
use super::{OK, PROBLEMS};
use choreoc::driver;
use clap::Args;
use std::io::{Read, Write};

/// Rewrite files in the canonical layout, keeping every comment in place.
///
/// Only files whose layout changes are written. The formatter checks its own
/// result: the checked model, every projection and every comment must be the
/// same before and after, or the file is left alone (E1101). With --check
/// nothing is written: a unified diff of each file that is not formatted goes
/// to stdout, and the exit code is 1. Standard input (`-`) is formatted to
/// standard output.
#[derive(Args, Debug)]
pub struct FmtArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Write nothing; print a diff and exit 1 if any file is not formatted.
    #[arg(long)]
    check: bool,
}

/// Runs `fmt`; returns the exit code.
pub fn run(args: &FmtArgs, reporter: &mut Reporter) -> i32 {
    let sources = match args.input.sources() {
        Ok(s) => s,
        Err(e) => return reporter.usage(e),
    };
    let (mut changed, mut failed) = (0, 0);
    for source in &sources {
        let name = source.name();
        let bytes = match source {
            Source::File(path) => std::fs::read(path),
            Source::Stdin => {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .lock()
                    .read_to_end(&mut bytes)
                    .map(|_| bytes)
            }
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => return reporter.usage(format!("cannot read {name}: {e}")),
        };
        let outcome = choreoc::fmt::format_bytes(&name, &bytes);
        let text = match &outcome.result {
            Err(diags) => {
                failed += 1;
                reporter.diagnostics(&outcome.file, diags);
                continue;
            }
            Ok(text) => text,
        };
        let mut out = std::io::stdout().lock();
        match source {
            Source::Stdin if !args.check => {
                let _ = out.write_all(text.as_bytes());
            }
            _ if !outcome.changed() => {}
            _ if args.check => {
                changed += 1;
                let diff = choreoc::fmt::unified_diff(&name, outcome.file.text(), text);
                let _ = out.write_all(diff.as_bytes());
            }
            Source::File(path) => {
                changed += 1;
                if let Err(e) = driver::write_if_changed(path, text) {
                    return reporter.usage(format!("cannot write {name}: {e}"));
                }
            }
            Source::Stdin => {}
        }
    }
    let n = sources.len();
    let verb = if args.check {
        "not formatted"
    } else {
        "reformatted"
    };
    reporter.note(format!(
        "fmt: {n} file{}, {changed} {verb}, {failed} with errors",
        if n == 1 { "" } else { "s" }
    ));
    if failed > 0 || (args.check && changed > 0) {
        PROBLEMS
    } else {
        OK
    }
}
