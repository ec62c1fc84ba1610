//! `choreoc build`: one Rust crate per protocol, and which runtime it
//! depends on.

use super::input::InputArgs;
use super::report::Reporter;
use super::select;
use super::write::{relative, write_files};
use super::PROBLEMS;
use choreoc::emit::rust::{crate_dir, render, RuntimeDep};
use clap::Args;
use std::path::{Path, PathBuf};

/// Generate one Rust crate per protocol: role traits, message types, one runner
/// per role and an `execute_as` entry point, targeting the choreo-runtime crate.
///
/// Without --runtime-path or --runtime-version, the crates depend on the runtime
/// of the source tree this choreoc was built from, when that is still on disk (a
/// clone, `cargo install --path compiler`), and otherwise on the choreo-runtime
/// release of choreoc's own version.
///
/// Files are only rewritten when their content changes. With --check nothing is
/// written, and the exit code is 1 when any file is stale or missing.
#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Where the crates go (one directory per protocol).
    #[arg(long, default_value = "generated/crates")]
    out: PathBuf,
    /// Depend on the runtime at this path (as seen from the current directory).
    #[arg(long, conflicts_with = "runtime_version")]
    runtime_path: Option<PathBuf>,
    /// Depend on this version of choreo-runtime from crates.io.
    #[arg(long)]
    runtime_version: Option<String>,
    /// Write nothing; exit 1 if any generated file is stale or missing.
    #[arg(long)]
    check: bool,
}

/// The runtime the generated crates depend on.
enum Runtime {
    /// A folder (the runtime's sources).
    Path(PathBuf),
    /// A version of choreo-runtime on crates.io.
    Version(String),
}

/// The runtime the flags ask for; without flags, the runtime of the source
/// tree this binary was built from if it still exists, else the release of
/// the compiler's own version.
fn runtime(args: &BuildArgs, reporter: &Reporter) -> Runtime {
    if let Some(p) = &args.runtime_path {
        return Runtime::Path(p.clone());
    }
    if let Some(v) = &args.runtime_version {
        return Runtime::Version(v.clone());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
    let is_runtime = std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|m| m.contains("name = \"choreo-runtime\""));
    match std::fs::canonicalize(&dir) {
        Ok(dir) if is_runtime => {
            reporter.note(format!(
                "runtime: {} (the source tree this choreoc was built from)",
                dir.display()
            ));
            Runtime::Path(dir)
        }
        _ => {
            let v = env!("CARGO_PKG_VERSION");
            reporter.note(format!("runtime: choreo-runtime {v} from crates.io"));
            Runtime::Version(v.to_string())
        }
    }
}

/// Runs `build`; returns the exit code.
pub fn run(args: &BuildArgs, reporter: &mut Reporter) -> i32 {
    let units = match args.input.compile(reporter) {
        Ok(units) => units,
        Err(code) => return code,
    };
    if reporter.errors > 0 {
        return PROBLEMS;
    }
    let chosen = match select::protocols(&units, None) {
        Ok(chosen) => chosen,
        Err(e) => return reporter.usage(e),
    };
    let runtime = runtime(args, reporter);
    let mut files = Vec::new();
    for c in &chosen {
        let dep = match &runtime {
            Runtime::Path(p) => {
                RuntimeDep::Path(relative(&args.out.join(crate_dir(&c.protocol.name)), p))
            }
            Runtime::Version(v) => RuntimeDep::Version(v.clone()),
        };
        let line_of = |offset: usize| c.unit.file.line_col(offset).line;
        files.extend(
            render(c.protocol, c.projection, &c.source(), &line_of, &dep)
                .into_iter()
                .map(|f| (f.path, f.content)),
        );
    }
    write_files(&args.out, &files, args.check, "choreoc build", reporter)
}
