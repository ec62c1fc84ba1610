//! `choreoc explain`: what a diagnostic code means, with examples.

use super::report::Reporter;
use super::select::with_hint;
use super::OK;
use choreoc::diag::{explain, Code};
use clap::Args;
use std::io::Write;

/// Explain a diagnostic code (`E0501`): what it means, an example that
/// triggers it and how to fix it; without a code, list every code.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The code; omit to list all.
    code: Option<String>,
}

/// Runs `explain`; returns the exit code.
pub fn run(args: &ExplainArgs, reporter: &mut Reporter) -> i32 {
    // A closed pipe (`choreoc explain | head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let Some(name) = &args.code else {
        for c in Code::ALL {
            let _ = writeln!(
                out,
                "{}  {:7}  {}",
                c.as_str(),
                c.severity().as_str(),
                c.summary()
            );
        }
        return OK;
    };
    match explain::parse(name).and_then(explain::entry) {
        Some(entry) => {
            let _ = writeln!(out, "{entry}");
            OK
        }
        None => reporter.usage(with_hint(
            format!("unknown code `{name}` (`choreoc explain` lists them)"),
            &name.to_ascii_uppercase(),
            Code::ALL.iter().map(|c| c.as_str()),
        )),
    }
}
