//! What every verb reads: `.choreo` files, directories searched for them,
//! or `-` for one file on standard input; and compiling all of them.

use super::report::Reporter;
use choreoc::driver::{self, Unit};
use clap::Args;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How diagnostics name the file read from standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// The inputs of a verb.
#[derive(Args, Clone, Debug)]
pub struct InputArgs {
    /// `.choreo` files, or directories searched recursively for them (in
    /// sorted order); `-` reads one file from standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// One input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Source {
    /// How diagnostics and generated files name it.
    pub fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string().replace('\\', "/"),
            Source::Stdin => STDIN_NAME.to_string(),
        }
    }

    /// Reads and compiles it.
    pub fn compile(&self) -> std::io::Result<Unit> {
        match self {
            Source::File(p) => driver::compile_path(p),
            Source::Stdin => {
                let mut bytes = Vec::new();
                std::io::stdin().lock().read_to_end(&mut bytes)?;
                Ok(driver::compile(STDIN_NAME, &bytes))
            }
        }
    }
}

impl InputArgs {
    /// The input files: each path as given, each directory's `.choreo` files
    /// in sorted order, `-` as standard input. A missing path, a directory
    /// without any `.choreo` file and a second `-` are usage errors.
    pub fn sources(&self) -> Result<Vec<Source>, String> {
        let mut out = Vec::new();
        for path in &self.paths {
            if path == Path::new("-") {
                if out.contains(&Source::Stdin) {
                    return Err("`-` (standard input) can be given only once".into());
                }
                out.push(Source::Stdin);
                continue;
            }
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if !meta.is_dir() {
                out.push(Source::File(path.clone()));
                continue;
            }
            let found = driver::find_sources(std::slice::from_ref(path))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if found.is_empty() {
                return Err(format!(
                    "no .choreo file in {} (directories are searched recursively for *.choreo)",
                    path.display()
                ));
            }
            out.extend(found.into_iter().map(Source::File));
        }
        Ok(out)
    }

    /// Compiles every input and prints its diagnostics. Returns the units,
    /// or the exit code: 2 when an input cannot be read.
    pub fn compile(&self, reporter: &mut Reporter) -> Result<Vec<Unit>, i32> {
        let sources = self.sources().map_err(|e| reporter.usage(e))?;
        let mut units = Vec::with_capacity(sources.len());
        for source in &sources {
            let unit = source
                .compile()
                .map_err(|e| reporter.usage(format!("cannot read {}: {e}", source.name())))?;
            reporter.diagnostics(&unit.file, &unit.diagnostics);
            units.push(unit);
        }
        Ok(units)
    }
}
