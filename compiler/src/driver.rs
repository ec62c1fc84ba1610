//! The library entry points that build scripts and the CLI share: find
//! `.choreo` files, and run a file through every stage, collecting
//! diagnostics.

use crate::check::{self, model::Module};
use crate::diag::{self, Diagnostic, SourceFile};
use crate::project::{self, Projection};
use crate::syntax;
use std::io;
use std::path::{Path, PathBuf};

/// One file run through the front end.
#[derive(Debug)]
pub struct Unit {
    /// The source, for rendering diagnostics.
    pub file: SourceFile,
    /// The checked module (absent when the file does not parse).
    pub module: Option<Module>,
    /// The projection of each protocol of `module` that projects without error,
    /// by index into `module.protocols`.
    pub projections: Vec<(usize, Projection)>,
    /// Every diagnostic, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Unit {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Runs source bytes through parsing, checking and projection. `name` is how
/// diagnostics name the file; its stem is the default module name.
pub fn compile(name: &str, bytes: &[u8]) -> Unit {
    compile_owned(name, bytes.to_vec())
}

/// [`compile`], taking the bytes (valid UTF-8 becomes the source text
/// without a copy).
pub fn compile_owned(name: &str, bytes: Vec<u8>) -> Unit {
    let parsed = syntax::parse_bytes(&bytes);
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let file = SourceFile::new(name, text);
    let mut diagnostics = Vec::new();
    let mut module = None;
    let mut projections = Vec::new();
    match parsed {
        Err(d) => diagnostics.extend(d),
        Ok(ast) => {
            let stem = Path::new(name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("main");
            // The tree is freed as the model is built.
            let (m, d) = check::check_owned(ast, stem);
            diagnostics.extend(d);
            for (i, p) in m.protocols.iter().enumerate() {
                match project::project(p) {
                    Ok(proj) => projections.push((i, proj)),
                    Err(d) => diagnostics.extend(d),
                }
            }
            module = Some(m);
        }
    }
    diag::sort(&mut diagnostics);
    Unit {
        file,
        module,
        projections,
        diagnostics,
    }
}

/// Reads and compiles one file.
pub fn compile_path(path: &Path) -> io::Result<Unit> {
    let bytes = std::fs::read(path)?;
    Ok(compile_owned(&path.display().to_string(), bytes))
}

/// Expands `paths` into `.choreo` files: files are taken as given,
/// directories are searched recursively; each directory's files come in
/// sorted order.
pub fn find_sources(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if !meta.is_dir() {
            out.push(path.clone());
            continue;
        }
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            let entry = entry.map_err(|e| io::Error::other(e.to_string()))?;
            if entry.file_type().is_file()
                && entry.path().extension().is_some_and(|e| e == "choreo")
            {
                out.push(entry.into_path());
            }
        }
    }
    Ok(out)
}

/// Writes `content` to `path` only when the file does not already hold it
/// (creating parent directories); returns whether it wrote. Unchanged files
/// keep their modification time, so build tools do not rebuild for nothing.
pub fn write_if_changed(path: &Path, content: &str) -> io::Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, content)?;
    Ok(true)
}
