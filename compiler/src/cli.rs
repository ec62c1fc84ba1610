//! Argument parsing and dispatch for the `choreoc` binary. Each verb lives
//! in a module of its own (`cli/<verb>.rs`: its arguments and its `run`);
//! what verbs share is here and in `input` (files, directories, `-`),
//! `report` (`--error-format`, `--color`, `-q`), `select` (`--protocol`,
//! `--role`) and `write` (generated files, `--check`).

mod audit;
mod breaking;
mod build;
mod check;
mod explain;
mod fmt;
mod graph;
mod input;
mod project;
mod report;
mod select;
mod simulate;
mod write;

use clap::{Parser, Subcommand};
use report::{OutputArgs, Reporter};

/// Exit code: everything is fine.
pub const OK: i32 = 0;
/// Exit code: problems were found in the input.
pub const PROBLEMS: i32 = 1;
/// Exit code: usage or I/O error.
pub const USAGE: i32 = report::USAGE;

#[derive(Parser)]
#[command(
    name = "choreoc",
    version,
    about = "Compiler for choreographic protocols written in .choreo files",
    long_about = "Compiler for choreographic protocols written in .choreo files.\n\n\
        Every verb reads .choreo files, directories (searched recursively for *.choreo) \
        or `-` (one file from standard input).\n\n\
        Exit codes: 0 when everything is fine (warnings allowed), 1 when problems were \
        found in the input, 2 on usage or I/O errors (including no input found)."
)]
struct Cli {
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::CheckArgs),
    Project(project::ProjectArgs),
    Simulate(simulate::SimulateArgs),
    Build(build::BuildArgs),
    Graph(graph::GraphArgs),
    Audit(audit::AuditArgs),
    Fmt(fmt::FmtArgs),
    Breaking(breaking::BreakingArgs),
    Explain(explain::ExplainArgs),
}

/// Runs the command line; returns the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { USAGE } else { OK };
        }
    };
    let mut reporter = Reporter::new(&cli.output);
    match &cli.command {
        Command::Check(args) => check::run(args, &mut reporter),
        Command::Project(args) => project::run(args, &mut reporter),
        Command::Simulate(args) => simulate::run(args, &mut reporter),
        Command::Build(args) => build::run(args, &mut reporter),
        Command::Graph(args) => graph::run(args, &mut reporter),
        Command::Audit(args) => audit::run(args, &mut reporter),
        Command::Fmt(args) => fmt::run(args, &mut reporter),
        Command::Breaking(args) => breaking::run(args, &mut reporter),
        Command::Explain(args) => explain::run(args, &mut reporter),
    }
}
