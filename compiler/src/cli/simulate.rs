//! `choreoc simulate`: run every role of a protocol together over every
//! combination of choices and loop decisions, up to bounds.

use super::input::InputArgs;
use super::report::Reporter;
use super::select::{self, with_hint};
use super::{OK, PROBLEMS};
use choreoc::check::model::{Count, LoopKind, Stmt};
use clap::Args;
use std::io::Write;

/// Run every role of a protocol together and report, for every combination of
/// choices and loop decisions (up to the bounds), whether every role finished.
///
/// Each role runs its projected local type over in-memory channels; a family runs
/// one process per member. A path on which some role is stuck is reported with the
/// action each stuck role waits on, and the exit code is 1.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Only this protocol.
    #[arg(long)]
    protocol: Option<String>,
    /// Members of a family, as `NAME=N` (repeatable); families whose size is not
    /// fixed in the file default to 3.
    #[arg(long = "family", value_name = "NAME=N", value_parser = parse_binding)]
    families: Vec<(String, u64)>,
    /// Value of a symbolic `loop repeat` count, as `NAME=N` (repeatable; default 2).
    #[arg(long = "param", value_name = "NAME=N", value_parser = parse_binding)]
    params: Vec<(String, u64)>,
    /// Explore at most this many paths.
    #[arg(long, default_value_t = 1000)]
    max_paths: usize,
    /// Rounds a `loop decide by` or `loop forever` may run on one path.
    #[arg(long, default_value_t = 2)]
    max_rounds: u32,
}

fn parse_binding(s: &str) -> Result<(String, u64), String> {
    let (name, n) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=N, got `{s}`"))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a non-negative integer"))?;
    Ok((name.trim().to_string(), n))
}

/// The symbolic counts of the `loop repeat` statements in `stmts`.
fn repeat_params(stmts: &[Stmt], out: &mut Vec<String>) {
    for s in stmts {
        match s {
            Stmt::Message(_) => {}
            Stmt::Choice(c) => c.branches.iter().for_each(|b| repeat_params(&b.body, out)),
            Stmt::Loop(l) => {
                if let LoopKind::Repeat(Count::Param(p)) = &l.kind {
                    out.push(p.clone());
                }
                repeat_params(&l.body, out);
            }
            Stmt::ForEach(e) => repeat_params(&e.body, out),
        }
    }
}

/// Runs `simulate`; returns the exit code.
pub fn run(args: &SimulateArgs, reporter: &mut Reporter) -> i32 {
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
    let families: Vec<&str> = chosen
        .iter()
        .flat_map(|c| c.protocol.roles.iter())
        .filter(|r| r.family.is_some())
        .map(|r| r.name.as_str())
        .collect();
    for (name, _) in &args.families {
        if !families.contains(&name.as_str()) {
            return reporter.usage(with_hint(
                format!("--family {name}: no family `{name}` in the chosen protocols"),
                name,
                families.iter().copied(),
            ));
        }
    }
    let mut params = Vec::new();
    for c in &chosen {
        repeat_params(&c.protocol.body, &mut params);
    }
    for (name, _) in &args.params {
        if !params.contains(name) {
            return reporter.usage(with_hint(
                format!("--param {name}: no `loop repeat {name}` in the chosen protocols"),
                name,
                params.iter().map(String::as_str),
            ));
        }
    }
    let config = choreoc::simulate::Config {
        families: args
            .families
            .iter()
            .map(|(k, v)| (k.clone(), *v as usize))
            .collect(),
        params: args.params.iter().cloned().collect(),
        max_paths: args.max_paths,
        max_rounds: args.max_rounds,
        ..Default::default()
    };
    let mut ok = true;
    let mut out = String::new();
    for c in chosen {
        let report = choreoc::simulate::simulate(c.protocol, c.projection, &config);
        ok &= report.ok();
        out.push_str(&report.to_string());
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    if ok {
        OK
    } else {
        PROBLEMS
    }
}
