//! Argument parsing and output for the `choreoc` binary.

use choreoc::diag::{render_human, render_json, Code, Severity};
use choreoc::driver::{self, Unit};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit code: everything is fine.
const OK: i32 = 0;
/// Exit code: problems were found in the input.
const PROBLEMS: i32 = 1;
/// Exit code: usage or I/O error.
const USAGE: i32 = 2;

#[derive(Parser)]
#[command(
    name = "choreoc",
    version,
    about = "Compiler for choreographic protocols written in .choreo files",
    long_about = "Compiler for choreographic protocols written in .choreo files.\n\n\
        Exit codes: 0 when everything is fine (warnings allowed), 1 when problems were \
        found in the input, 2 on usage or I/O errors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check files; report every problem found.
    ///
    /// Directories are searched recursively for `*.choreo` files, in sorted order.
    Check {
        /// Files or directories to check.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// How to print diagnostics: `human` (to stderr) or `json` (one object per line, to stdout).
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
    },
    /// Print each role's local type (its sends and receives) in canonical notation.
    ///
    /// One line per role, `Role: type`, roles in declaration order; a family member
    /// singled out by a statement gets its own `Family[k]:` line. With several protocols
    /// in the file and no --protocol, a `# Protocol` line precedes each group.
    Project {
        /// The .choreo file.
        file: PathBuf,
        /// Only this protocol.
        #[arg(long)]
        protocol: Option<String>,
        /// Only this role (a family name selects all its lines; `Family[k]` one of them).
        #[arg(long)]
        role: Option<String>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
    },
    /// Run every role of a protocol together and report, for every combination of
    /// choices and loop decisions (up to the bounds), whether every role finished.
    ///
    /// Each role runs its projected local type over in-memory channels; a family runs
    /// one process per member. A path on which some role is stuck is reported with the
    /// action each stuck role waits on, and the exit code is 1.
    Simulate {
        /// The .choreo file.
        file: PathBuf,
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
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
    },
    /// Generate one Rust crate per protocol: role traits, message types, one runner
    /// per role and an `execute_as` entry point, targeting the choreo-runtime crate.
    ///
    /// Files are only rewritten when their content changes. With --check nothing is
    /// written, and the exit code is 1 when any file is stale or missing.
    Build {
        /// .choreo files or directories (searched recursively).
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<PathBuf>,
        /// Where the crates go (one directory per protocol).
        #[arg(long, default_value = "generated/crates")]
        out: PathBuf,
        /// Depend on the runtime at this path (as seen from the current directory).
        #[arg(long, conflicts_with = "runtime_version")]
        runtime_path: Option<PathBuf>,
        /// Depend on this version of choreo-runtime from crates.io (the default: 0.1).
        #[arg(long)]
        runtime_version: Option<String>,
        /// Write nothing; exit 1 if any generated file is stale or missing.
        #[arg(long)]
        check: bool,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
    },
    /// Draw a protocol: a sequence diagram (Graphviz or Mermaid) or each role's state machine.
    ///
    /// Without --out, the chosen diagram is printed. With --out DIR, every diagram of
    /// every protocol is written there (`<Protocol>.dot`, `<Protocol>.mmd`,
    /// `<Protocol>.<Role>.dot`), only when its content changed; with --check nothing is
    /// written and the exit code is 1 if any file is stale or missing.
    Graph {
        /// The .choreo file.
        file: PathBuf,
        /// Which diagram to print.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Only this protocol.
        #[arg(long)]
        protocol: Option<String>,
        /// With `--format fsm`: only this role (a family name selects all its members' machines).
        #[arg(long)]
        role: Option<String>,
        /// Write every diagram into this directory instead of printing one.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --out: write nothing; exit 1 if any diagram file is stale or missing.
        #[arg(long, requires = "out")]
        check: bool,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
    },
    /// Write the audit and wiring tables: per protocol, Wired or Spec-only (computed
    /// from the call sites of generated runners in the code and from the evidence
    /// of sessions the runtime recorded), with the inventory, priorities, wiring
    /// plan, decision sources, call sites and evidence, and an annotation summary.
    ///
    /// Reads `protocols/` and `protocols/manifest.yaml` under --root and writes
    /// `generated/docs/choreography_runtime_audit.md` there (only if it changed).
    /// Without --evidence every protocol is Spec-only ("no evidence");
    /// `cargo xtask codegen` records evidence and passes it.
    Audit {
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
    },
    /// Rewrite files in the canonical layout, keeping every comment in place.
    ///
    /// Directories are searched recursively for `*.choreo` files. Only files whose
    /// layout changes are written. The formatter checks its own result: the checked
    /// model, every projection and every comment must be the same before and after,
    /// or the file is left alone (E1101). With --check nothing is written: a unified
    /// diff of each file that is not formatted goes to stdout, and the exit code is 1.
    Fmt {
        /// Files or directories to format.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Write nothing; print a diff and exit 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
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
    Breaking {
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
        /// How to print findings and diagnostics.
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human)]
        error_format: ErrorFormat,
    },
    /// Explain a diagnostic code (`E0501`), or list every code.
    Explain {
        /// The code; omit to list all.
        code: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// Graphviz sequence diagram of the global protocol.
    Dot,
    /// Mermaid sequence diagram of the global protocol.
    Mermaid,
    /// Graphviz state machine of each role's local type.
    Fsm,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Allow {
    /// API-breaking changes (E1202): the wire is compatible.
    Api,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ErrorFormat {
    Human,
    Json,
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
    match cli.command {
        Command::Check {
            paths,
            error_format,
        } => check(&paths, error_format),
        Command::Project {
            file,
            protocol,
            role,
            error_format,
        } => project(&file, protocol.as_deref(), role.as_deref(), error_format),
        Command::Simulate {
            file,
            protocol,
            families,
            params,
            max_paths,
            max_rounds,
            error_format,
        } => {
            let config = choreoc::simulate::Config {
                families: families.into_iter().map(|(k, v)| (k, v as usize)).collect(),
                params: params.into_iter().collect(),
                max_paths,
                max_rounds,
                ..Default::default()
            };
            simulate(&file, protocol.as_deref(), &config, error_format)
        }
        Command::Build {
            inputs,
            out,
            runtime_path,
            runtime_version,
            check,
            error_format,
        } => build(
            &inputs,
            &out,
            runtime_path.as_deref(),
            runtime_version,
            check,
            error_format,
        ),
        Command::Graph {
            file,
            format,
            protocol,
            role,
            out,
            check,
            error_format,
        } => graph(
            &file,
            format,
            protocol.as_deref(),
            role.as_deref(),
            out.as_deref(),
            check,
            error_format,
        ),
        Command::Audit {
            root,
            evidence,
            check,
        } => audit(&root, evidence.as_deref(), check),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Breaking {
            against,
            against_git,
            new,
            allow,
            error_format,
        } => breaking(
            against.as_deref(),
            against_git.as_deref(),
            &new,
            allow.contains(&Allow::Api),
            error_format,
        ),
        Command::Explain { code } => explain(code.as_deref()),
    }
}

fn usage_error(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    USAGE
}

/// Compiles a file and prints its diagnostics: the unit when it has no
/// errors, else the exit code (1 for problems, 2 when it cannot be read).
fn compiled(path: &Path, format: ErrorFormat) -> Result<Unit, i32> {
    let unit = driver::compile_path(path)
        .map_err(|e| usage_error(format!("cannot read {}: {e}", path.display())))?;
    let (errors, _) = report(&unit, format);
    if errors > 0 {
        return Err(PROBLEMS);
    }
    Ok(unit)
}

/// Prints a unit's diagnostics; returns (errors, warnings).
fn report(unit: &Unit, format: ErrorFormat) -> (usize, usize) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut counts = (0, 0);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for d in &unit.diagnostics {
        match d.severity() {
            Severity::Error => counts.0 += 1,
            Severity::Warning => counts.1 += 1,
        }
        let _ = match format {
            ErrorFormat::Human => write!(err, "{}", render_human(d, &unit.file, color)),
            ErrorFormat::Json => writeln!(out, "{}", render_json(d, &unit.file)),
        };
    }
    counts
}

fn check(paths: &[PathBuf], format: ErrorFormat) -> i32 {
    let files = match driver::find_sources(paths) {
        Ok(files) => files,
        Err(e) => return usage_error(e),
    };
    let (mut errors, mut warnings) = (0, 0);
    for path in &files {
        let unit = match driver::compile_path(path) {
            Ok(unit) => unit,
            Err(e) => return usage_error(format!("cannot read {}: {e}", path.display())),
        };
        let (e, w) = report(&unit, format);
        errors += e;
        warnings += w;
    }
    if format == ErrorFormat::Human {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        eprintln!(
            "checked {}: {}, {}",
            plural(files.len(), "file"),
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    if errors > 0 {
        PROBLEMS
    } else {
        OK
    }
}

fn project(path: &Path, protocol: Option<&str>, role: Option<&str>, format: ErrorFormat) -> i32 {
    let unit = match compiled(path, format) {
        Ok(unit) => unit,
        Err(code) => return code,
    };
    let Some(module) = &unit.module else {
        return PROBLEMS;
    };
    let chosen: Vec<_> = match protocol {
        None => unit.projections.iter().collect(),
        Some(name) => {
            let found: Vec<_> = unit
                .projections
                .iter()
                .filter(|(i, _)| module.protocols[*i].name == name)
                .collect();
            if found.is_empty() {
                let names: Vec<_> = module.protocols.iter().map(|p| p.name.as_str()).collect();
                return usage_error(format!(
                    "no protocol `{name}` in {} (it declares: {})",
                    path.display(),
                    names.join(", ")
                ));
            }
            found
        }
    };
    let mut out = String::new();
    let headers = protocol.is_none() && chosen.len() > 1;
    for (i, proj) in &chosen {
        let p = &module.protocols[*i];
        let lines: Vec<_> = proj
            .locals
            .iter()
            .filter(|l| role.is_none_or(|r| l.name == r || p.roles[l.target.role()].name == r))
            .collect();
        if let Some(r) = role {
            if lines.is_empty() {
                let names: Vec<_> = proj.locals.iter().map(|l| l.name.as_str()).collect();
                return usage_error(format!(
                    "no role `{r}` in protocol `{}` (roles: {})",
                    p.name,
                    names.join(", ")
                ));
            }
        }
        if headers {
            out.push_str(&format!("# {}\n", p.name));
        }
        for l in lines {
            out.push_str(&format!(
                "{}: {}\n",
                l.name,
                choreoc::project::local::print(&l.body, &p.roles)
            ));
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    OK
}

fn graph(
    path: &Path,
    format: GraphFormat,
    protocol: Option<&str>,
    role: Option<&str>,
    out: Option<&Path>,
    check: bool,
    error_format: ErrorFormat,
) -> i32 {
    use choreoc::emit::diagram;
    let unit = match compiled(path, error_format) {
        Ok(unit) => unit,
        Err(code) => return code,
    };
    let Some(module) = unit.module.as_ref() else {
        return PROBLEMS;
    };
    let source = path.display().to_string().replace('\\', "/");
    let chosen: Vec<_> = unit
        .projections
        .iter()
        .filter(|(i, _)| protocol.is_none_or(|n| module.protocols[*i].name == n))
        .collect();
    if chosen.is_empty() {
        return usage_error(format!(
            "no protocol `{}` in {}",
            protocol.unwrap_or_default(),
            path.display()
        ));
    }
    if let Some(dir) = out {
        let mut files = Vec::new();
        for (i, proj) in &chosen {
            files.extend(choreoc::emit::diagram::files(
                &module.protocols[*i],
                proj,
                &source,
            ));
        }
        return write_files(dir, &files, check, "choreoc graph --out");
    }
    let mut text = String::new();
    for (i, proj) in &chosen {
        let p = &module.protocols[*i];
        match format {
            GraphFormat::Dot => text.push_str(&diagram::sequence_dot(p, proj, &source)),
            GraphFormat::Mermaid => text.push_str(&diagram::sequence_mermaid(p, proj, &source)),
            GraphFormat::Fsm => {
                let locals: Vec<_> = proj
                    .locals
                    .iter()
                    .filter(|l| {
                        role.is_none_or(|r| l.name == r || p.roles[l.target.role()].name == r)
                    })
                    .collect();
                if locals.is_empty() {
                    return usage_error(format!(
                        "no role `{}` in protocol `{}`",
                        role.unwrap_or_default(),
                        p.name
                    ));
                }
                for l in locals {
                    text.push_str(&diagram::fsm_dot(p, l, &source));
                }
            }
        }
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    OK
}

/// Writes `files` under `dir` (only those whose content changed), or with
/// `check` reports stale ones; returns the exit code.
fn write_files(dir: &Path, files: &[(String, String)], check: bool, fix: &str) -> i32 {
    let mut stale = Vec::new();
    let mut written = 0;
    for (name, content) in files {
        let target = dir.join(name);
        let current = std::fs::read_to_string(&target).ok();
        if current.as_deref() == Some(content.as_str()) {
            continue;
        }
        if check {
            stale.push(format!(
                "{} ({})",
                target.display(),
                if current.is_some() {
                    "stale"
                } else {
                    "missing"
                }
            ));
            continue;
        }
        if let Err(e) = driver::write_if_changed(&target, content) {
            return usage_error(format!("cannot write {}: {e}", target.display()));
        }
        written += 1;
    }
    if check {
        if stale.is_empty() {
            return OK;
        }
        eprintln!("not up to date:");
        for s in &stale {
            eprintln!("  {s}");
        }
        eprintln!("run `{fix}` (or `cargo xtask codegen`) to regenerate");
        return PROBLEMS;
    }
    eprintln!(
        "{}: {written} written, {} unchanged",
        dir.display(),
        files.len() - written
    );
    OK
}

fn audit(root: &Path, evidence: Option<&Path>, check: bool) -> i32 {
    match choreoc::audit::audit(root, evidence) {
        Ok((_, text)) => {
            let current = std::fs::read_to_string(root.join(choreoc::audit::OUTPUT)).ok();
            // Only line numbers and session counts differ: up to date.
            let same = current.as_deref().is_some_and(|c| {
                choreoc::audit::normalized(c) == choreoc::audit::normalized(&text)
            });
            if check && same {
                return OK;
            }
            let files = [(choreoc::audit::OUTPUT.to_string(), text)];
            write_files(root, &files, check, "choreoc audit")
        }
        Err(failure) => match *failure {
            choreoc::audit::Failure::Invalid { file, diagnostics } => {
                let color =
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                for d in &diagnostics {
                    eprint!("{}", render_human(d, &file, color));
                }
                PROBLEMS
            }
            choreoc::audit::Failure::Io(e) => usage_error(e),
        },
    }
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

fn simulate(
    path: &Path,
    protocol: Option<&str>,
    config: &choreoc::simulate::Config,
    format: ErrorFormat,
) -> i32 {
    let unit = match compiled(path, format) {
        Ok(unit) => unit,
        Err(code) => return code,
    };
    let Some(module) = unit.module.as_ref() else {
        return PROBLEMS;
    };
    for name in config.families.keys() {
        let known = module.protocols.iter().any(|p| {
            p.roles
                .iter()
                .any(|r| r.family.is_some() && &r.name == name)
        });
        if !known {
            return usage_error(format!(
                "--family {name}: no family `{name}` in {}",
                path.display()
            ));
        }
    }
    let chosen: Vec<_> = unit
        .projections
        .iter()
        .filter(|(i, _)| protocol.is_none_or(|n| module.protocols[*i].name == n))
        .collect();
    if chosen.is_empty() {
        return usage_error(format!(
            "no protocol `{}` in {}",
            protocol.unwrap_or_default(),
            path.display()
        ));
    }
    let mut ok = true;
    let mut out = String::new();
    for (i, proj) in chosen {
        let report = choreoc::simulate::simulate(&module.protocols[*i], proj, config);
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

fn build(
    inputs: &[PathBuf],
    out: &Path,
    runtime_path: Option<&Path>,
    runtime_version: Option<String>,
    check: bool,
    format: ErrorFormat,
) -> i32 {
    use choreoc::emit::rust::{crate_dir, render, RuntimeDep};
    let sources = match driver::find_sources(inputs) {
        Ok(files) => files,
        Err(e) => return usage_error(e),
    };
    let mut errors = 0;
    let mut files = Vec::new();
    for path in &sources {
        let unit = match driver::compile_path(path) {
            Ok(unit) => unit,
            Err(e) => return usage_error(format!("cannot read {}: {e}", path.display())),
        };
        errors += report(&unit, format).0;
        let Some(module) = unit.module.as_ref().filter(|_| !unit.has_errors()) else {
            continue;
        };
        for (i, proj) in &unit.projections {
            let protocol = &module.protocols[*i];
            let runtime = match (runtime_path, &runtime_version) {
                (Some(p), _) => RuntimeDep::Path(relative(&out.join(crate_dir(&protocol.name)), p)),
                (None, Some(v)) => RuntimeDep::Version(v.clone()),
                (None, None) => RuntimeDep::Version("0.1".into()),
            };
            let line_of = |offset: usize| unit.file.line_col(offset).line;
            let source = path.display().to_string().replace('\\', "/");
            files.extend(
                render(protocol, proj, &source, &line_of, &runtime)
                    .into_iter()
                    .map(|f| (f.path, f.content)),
            );
        }
    }
    if errors > 0 {
        return PROBLEMS;
    }
    write_files(out, &files, check, "choreoc build")
}

/// The path of `target` as seen from directory `from` (both relative to the
/// current directory, or both absolute), with `/` separators.
fn relative(from: &Path, target: &Path) -> String {
    let abs = |p: &Path| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let norm = |p: PathBuf| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                c => out.push(c.as_os_str().to_string_lossy().into_owned()),
            }
        }
        out
    };
    let (from, target) = (norm(abs(from)), norm(abs(target)));
    let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); from.len() - common];
    parts.extend(target[common..].iter().cloned());
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn explain(code: Option<&str>) -> i32 {
    match code {
        None => {
            for c in Code::ALL {
                println!(
                    "{}  {:7}  {}",
                    c.as_str(),
                    c.severity().as_str(),
                    c.summary()
                );
            }
            OK
        }
        Some(code) => match Code::ALL
            .iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(code))
        {
            Some(c) => {
                println!(
                    "{} ({}): {}",
                    c.as_str(),
                    c.severity().as_str(),
                    c.summary()
                );
                println!("See docs/error-codes.md for examples.");
                OK
            }
            None => usage_error(format!(
                "unknown code `{code}`; `choreoc explain` lists them"
            )),
        },
    }
}

/// `choreoc fmt`: formats (or with `check` diffs) every file; returns the exit code.
fn fmt(paths: &[PathBuf], check: bool) -> i32 {
    let files = match driver::find_sources(paths) {
        Ok(files) => files,
        Err(e) => return usage_error(e),
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (mut changed, mut failed) = (0, 0);
    for path in &files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return usage_error(format!("cannot read {}: {e}", path.display())),
        };
        let name = path.display().to_string();
        let outcome = choreoc::fmt::format_bytes(&name, &bytes);
        match &outcome.result {
            Err(diags) => {
                failed += 1;
                for d in diags {
                    eprint!("{}", render_human(d, &outcome.file, color));
                }
            }
            Ok(text) if outcome.changed() => {
                changed += 1;
                if check {
                    let diff = choreoc::fmt::unified_diff(&name, outcome.file.text(), text);
                    let _ = std::io::stdout().lock().write_all(diff.as_bytes());
                } else if let Err(e) = driver::write_if_changed(path, text) {
                    return usage_error(format!("cannot write {}: {e}", path.display()));
                }
            }
            Ok(_) => {}
        }
    }
    let n = files.len();
    let verb = if check {
        "not formatted"
    } else {
        "reformatted"
    };
    eprintln!(
        "fmt: {n} file{}, {changed} {verb}, {failed} with errors",
        if n == 1 { "" } else { "s" }
    );
    if failed > 0 || (check && changed > 0) {
        PROBLEMS
    } else {
        OK
    }
}

/// `choreoc breaking`: compares the old version (a path, or the new paths at a
/// git revision) with the new one; returns the exit code.
fn breaking(
    against: Option<&Path>,
    against_git: Option<&str>,
    new: &[PathBuf],
    allow_api: bool,
    format: ErrorFormat,
) -> i32 {
    use choreoc::breaking::{self, render, sources};
    let old = match (against, against_git) {
        (Some(path), _) => sources::from_paths(&[path.to_path_buf()]),
        (None, Some(rev)) => sources::from_git(rev, new),
        (None, None) => Err("give the old version with --against or --against-git".into()),
    };
    let (old, new) = match (old, sources::from_paths(new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let mut errors = 0;
    for unit in old.units.iter().chain(&new.units) {
        errors += report(unit, format).0;
    }
    if errors > 0 {
        return PROBLEMS;
    }
    let findings = match breaking::compare(&old, &new) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let new_files: Vec<_> = new.units.iter().map(|u| u.file.clone()).collect();
    let old_files: Vec<_> = old.units.iter().map(|u| u.file.clone()).collect();
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut failing = 0;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for f in &findings {
        let level = render::level(f, allow_api);
        failing += usize::from(level == render::Level::Error);
        let _ = match format {
            ErrorFormat::Human => write!(
                err,
                "{}",
                render::human(f, level, &new_files, &old_files, color)
            ),
            ErrorFormat::Json => {
                writeln!(out, "{}", render::json(f, level, &new_files, &old_files))
            }
        };
    }
    if format == ErrorFormat::Human {
        let count = |c: breaking::Category| findings.iter().filter(|f| f.category == c).count();
        let _ = writeln!(
            err,
            "breaking: {} wire-breaking, {} API-breaking, {} compatible change(s)",
            count(breaking::Category::Wire),
            count(breaking::Category::Api),
            count(breaking::Category::Compatible)
        );
    }
    if failing > 0 {
        PROBLEMS
    } else {
        OK
    }
}
