//! `choreoc graph`: sequence diagrams (Graphviz, Mermaid) and per-role state
//! machines, printed one at a time or written as one file each.

use super::input::InputArgs;
use super::report::Reporter;
use super::select::{self, Chosen};
use super::write::write_files;
use super::{OK, PROBLEMS};
use choreoc::emit::diagram;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// Draw a protocol: a sequence diagram (Graphviz or Mermaid) or a role's state machine.
///
/// Without --out, exactly one diagram is printed (narrow the choice with --protocol
/// and, for `fsm`, --role). With --out DIR, each diagram is written to a file of its
/// own: `<Protocol>.dot`, `<Protocol>.mmd` and `<Protocol>.<Role>.dot` (every kind, or
/// only --format's), each only when its content changed; with --check nothing is
/// written and the exit code is 1 if any file is stale or missing.
#[derive(Args, Debug)]
pub struct GraphArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Which diagram (default `dot` when printing; every kind with --out).
    #[arg(long, value_enum)]
    format: Option<GraphFormat>,
    /// Only this protocol.
    #[arg(long)]
    protocol: Option<String>,
    /// With `--format fsm`: only this role (`Family[k]` for a singled-out member).
    #[arg(long)]
    role: Option<String>,
    /// Write the diagrams into this directory, one file each.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --out: write nothing; exit 1 if any diagram file is stale or missing.
    #[arg(long, requires = "out")]
    check: bool,
}

/// A kind of diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz sequence diagram of the global protocol.
    Dot,
    /// Mermaid sequence diagram of the global protocol.
    Mermaid,
    /// Graphviz state machine of each role's local type.
    Fsm,
}

/// The diagrams of one protocol, as `(file name, content)`.
fn diagrams(
    c: &Chosen,
    format: Option<GraphFormat>,
    role: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    let source = c.source();
    let (p, proj) = (c.protocol, c.projection);
    let mut out = Vec::new();
    if matches!(format, None | Some(GraphFormat::Dot)) {
        out.push((
            format!("{}.dot", p.name),
            diagram::sequence_dot(p, proj, &source),
        ));
    }
    if matches!(format, None | Some(GraphFormat::Mermaid)) {
        out.push((
            format!("{}.mmd", p.name),
            diagram::sequence_mermaid(p, proj, &source),
        ));
    }
    if matches!(format, None | Some(GraphFormat::Fsm)) {
        for l in c.locals(role)? {
            out.push((
                diagram::fsm_file_name(p, l),
                diagram::fsm_dot(p, l, &source),
            ));
        }
    }
    Ok(out)
}

/// Runs `graph`; returns the exit code.
pub fn run(args: &GraphArgs, reporter: &mut Reporter) -> i32 {
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
    if args.role.is_some() && !matches!(args.format, Some(GraphFormat::Fsm)) {
        return reporter.usage("--role selects a state machine: use it with --format fsm");
    }
    let format = match (&args.out, args.format) {
        (None, None) => Some(GraphFormat::Dot),
        (_, f) => f,
    };
    let mut files = Vec::new();
    let printed = match select::with_role(&chosen, args.role.as_deref()) {
        Ok(printed) => printed,
        Err(e) => return reporter.usage(e),
    };
    for (c, _) in &printed {
        match diagrams(c, format, args.role.as_deref()) {
            Ok(d) => files.extend(d),
            Err(e) => return reporter.usage(e),
        }
    }
    if let Some(dir) = &args.out {
        return write_files(dir, &files, args.check, "choreoc graph --out", reporter);
    }
    match files.as_slice() {
        [(_, text)] => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            OK
        }
        _ => {
            let names: Vec<&str> = files
                .iter()
                .map(|(n, _)| n.rsplit_once('.').map_or(n.as_str(), |(stem, _)| stem))
                .collect();
            let narrow = if format == Some(GraphFormat::Fsm) {
                "--protocol and --role"
            } else {
                "--protocol"
            };
            reporter.usage(format!(
                "{} diagrams ({}), but standard output holds one: choose one with {narrow}, \
                 or write each to its own file with --out DIR",
                files.len(),
                names.join(", ")
            ))
        }
    }
}
