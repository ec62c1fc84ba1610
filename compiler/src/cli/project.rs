//! `choreoc project`: print each role's local type.

use super::input::InputArgs;
use super::report::Reporter;
use super::select;
use super::{OK, PROBLEMS};
use clap::Args;
use std::io::Write;

/// Print each role's local type (its sends and receives) in canonical notation.
///
/// One line per role, `Role: type`, roles in declaration order; a family member
/// singled out by a statement gets its own `Family[k]:` line. When several
/// protocols are printed, a `# Protocol` line precedes each group (`# Protocol
/// (file)` when the inputs are several files).
#[derive(Args, Debug)]
pub struct ProjectArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Only this protocol.
    #[arg(long)]
    protocol: Option<String>,
    /// Only this role (a family name selects all its lines; `Family[k]` one of them).
    #[arg(long)]
    role: Option<String>,
}

/// Runs `project`; returns the exit code.
pub fn run(args: &ProjectArgs, reporter: &mut Reporter) -> i32 {
    let units = match args.input.compile(reporter) {
        Ok(units) => units,
        Err(code) => return code,
    };
    if reporter.errors > 0 {
        return PROBLEMS;
    }
    let chosen = match select::protocols(&units, args.protocol.as_deref()) {
        Ok(chosen) => chosen,
        Err(e) => return reporter.usage(e),
    };
    let printed = match select::with_role(&chosen, args.role.as_deref()) {
        Ok(printed) => printed,
        Err(e) => return reporter.usage(e),
    };
    let mut out = String::new();
    for (c, locals) in &printed {
        if printed.len() > 1 && units.len() > 1 {
            out += &format!("# {} ({})\n", c.protocol.name, c.source());
        } else if printed.len() > 1 {
            out += &format!("# {}\n", c.protocol.name);
        }
        for l in locals {
            out += &format!(
                "{}: {}\n",
                l.name,
                choreoc::project::local::print(&l.body, &c.protocol.roles)
            );
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    OK
}
