//! `choreoc-build` compiles `.choreo` protocols from a Cargo build script,
//! the way `prost-build` compiles `.proto` files:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), choreoc_build::Error> {
//!     choreoc_build::configure().compile(["protocols"])?;
//!     Ok(())
//! }
//! ```
//!
//! Every protocol of every input becomes one Rust file in `OUT_DIR` (or the
//! directory given to [`Builder::out_dir`]), named after the protocol in
//! snake case. The file holds one module of that name, which the crate pulls
//! in where it wants it with
//!
//! ```ignore
//! include!(concat!(env!("OUT_DIR"), "/guardian_ceremony.rs"));
//! // now `guardian_ceremony::execute_as`, `guardian_ceremony::As`, ...
//! ```
//!
//! The crate depends on `choreo-runtime` (the generated code names it
//! `choreo_runtime`), as the crates of `choreoc build` do; the module holds
//! the same items as such a crate, with no inner attribute and no `cfg` on
//! a feature, and compiles without warnings under the crate's own lints
//! (what a program leaves unused is allowed by the module's
//! `#[allow(dead_code)]`). [`Builder::scripted`] adds the `scripted` module
//! (scripted roles for tests).
//!
//! Inputs are `.choreo` files and directories (searched recursively, in
//! sorted order); each is watched with `cargo:rerun-if-changed`, so Cargo
//! reruns the build script when one changes and only then. Errors fail the
//! build with every diagnostic as `file:line:column: error[CODE]: message`;
//! warnings become `cargo:warning=` lines.

mod generate;

use choreoc::diag::{render_plain, Diagnostic, Severity, SourceFile};
use choreoc::driver;
use choreoc::emit::rust::ModuleOptions;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A new [`Builder`] with the defaults: write to `OUT_DIR`, print
/// `cargo:rerun-if-changed` for every input.
pub fn configure() -> Builder {
    Builder {
        out_dir: None,
        rerun_if_changed: true,
        options: ModuleOptions::default(),
    }
}

/// What to compile, and where to put it.
#[derive(Clone, Debug)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    rerun_if_changed: bool,
    options: ModuleOptions,
}

/// One file written by [`Builder::compile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The protocol's name.
    pub protocol: String,
    /// The file it was written to.
    pub path: PathBuf,
    /// Whether the file was (re)written; an unchanged file keeps its time.
    pub written: bool,
}

/// Why [`Builder::compile`] failed.
pub enum Error {
    /// No input, an input that does not exist, a directory without any
    /// `.choreo` file, or `OUT_DIR` unset outside a build script.
    Usage(String),
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// The protocols have errors: every diagnostic, as plain text.
    Invalid {
        /// How many errors.
        errors: usize,
        /// Every diagnostic of the failing files, rendered by
        /// [`choreoc::diag::render_plain`].
        report: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "choreoc-build: {m}"),
            Error::Io(p, e) => write!(f, "choreoc-build: {}: {e}", p.display()),
            Error::Invalid { errors, report } => {
                let s = if *errors == 1 { "" } else { "s" };
                write!(
                    f,
                    "{report}choreoc-build: {errors} error{s} in the protocols"
                )
            }
        }
    }
}

// A build script's `main` returning `Err` prints the error with `Debug`:
// show the diagnostics as they are, not as an escaped string.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

impl Builder {
    /// Writes the generated files into `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every input (default:
    /// yes). Without any such line Cargo reruns the build script whenever
    /// any file of the package changes.
    pub fn emit_rerun_if_changed(mut self, on: bool) -> Self {
        self.rerun_if_changed = on;
        self
    }

    /// Whether each module holds `scripted` (default: no): a `Script` that
    /// plays any role with default payloads and scripted decisions, for
    /// tests and simulations (the `scripted` feature of a generated crate).
    pub fn scripted(mut self, on: bool) -> Self {
        self.options.scripted = on;
        self
    }

    /// Compiles `inputs` (files and directories) and writes one file per
    /// protocol, printing Cargo's directives to standard output.
    pub fn compile<I, P>(&self, inputs: I) -> Result<Vec<Generated>, Error>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let inputs: Vec<PathBuf> = inputs
            .into_iter()
            .map(|p| p.as_ref().to_path_buf())
            .collect();
        self.compile_to(&inputs, &mut std::io::stdout().lock())
    }

    /// [`Builder::compile`], with Cargo's directives written to `cargo`.
    pub fn compile_to(
        &self,
        inputs: &[PathBuf],
        cargo: &mut dyn Write,
    ) -> Result<Vec<Generated>, Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::Usage(
                        "OUT_DIR is not set: call this from a build script, or set out_dir".into(),
                    )
                })?,
        };
        let files = sources(inputs)?;
        if self.rerun_if_changed {
            for path in inputs.iter().chain(&files) {
                directive(cargo, &format!("rerun-if-changed={}", path.display()));
            }
        }
        let mut report = String::new();
        let mut errors = 0;
        let mut modules: Vec<(String, PathBuf, String)> = Vec::new();
        for path in &files {
            let unit = driver::compile_path(path).map_err(|e| Error::Io(path.clone(), e))?;
            warnings(cargo, &unit.file, &unit.diagnostics);
            if unit.has_errors() {
                errors += unit.diagnostics.iter().filter(|d| d.is_error()).count();
                for d in &unit.diagnostics {
                    report += &render_plain(d, &unit.file);
                }
                continue;
            }
            let Some(module) = &unit.module else { continue };
            let source = path.display().to_string().replace('\\', "/");
            for (i, projection) in &unit.projections {
                let protocol = &module.protocols[*i];
                let text =
                    generate::module(protocol, projection, &source, &unit.file, &self.options);
                let target = out_dir.join(generate::file_name(protocol));
                if let Some((other, _, _)) = modules.iter().find(|(_, t, _)| *t == target) {
                    return Err(Error::Usage(format!(
                        "protocols `{other}` and `{}` would both be written to {}: rename one",
                        protocol.name,
                        target.display()
                    )));
                }
                modules.push((protocol.name.clone(), target, text));
            }
        }
        if errors > 0 {
            return Err(Error::Invalid { errors, report });
        }
        // Nothing is written unless every protocol compiled.
        let mut out = Vec::with_capacity(modules.len());
        for (protocol, path, text) in modules {
            let written =
                driver::write_if_changed(&path, &text).map_err(|e| Error::Io(path.clone(), e))?;
            out.push(Generated {
                protocol,
                path,
                written,
            });
        }
        Ok(out)
    }
}

/// The `.choreo` files of `inputs`: files as given, directories searched
/// recursively in sorted order.
fn sources(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    if inputs.is_empty() {
        return Err(Error::Usage("no input given".into()));
    }
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::Io(input.clone(), e))?;
        let found = driver::find_sources(std::slice::from_ref(input))
            .map_err(|e| Error::Io(input.clone(), e))?;
        if meta.is_dir() && found.is_empty() {
            return Err(Error::Usage(format!(
                "no .choreo file in {}",
                input.display()
            )));
        }
        out.extend(found);
    }
    Ok(out)
}

/// Every warning as a `cargo:warning=` line (one per line of its text).
fn warnings(cargo: &mut dyn Write, file: &SourceFile, diags: &[Diagnostic]) {
    for d in diags.iter().filter(|d| d.severity() == Severity::Warning) {
        for line in render_plain(d, file).lines() {
            directive(cargo, &format!("warning={line}"));
        }
    }
}

fn directive(cargo: &mut dyn Write, text: &str) {
    let _ = writeln!(cargo, "cargo:{text}");
}
