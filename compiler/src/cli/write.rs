//! Writing generated files: only those whose content changed, or with
//! `--check` only reporting the stale ones.

use super::report::Reporter;
use super::{OK, PROBLEMS};
use choreoc::driver;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// Writes `files` (`(path under dir, content)`) under `dir`, only those whose
/// content changed, or with `check` reports the stale and missing ones
/// (exit 1). `fix` is the command that regenerates them. Two files with the
/// same path (two inputs declaring protocols of the same name) are a usage
/// error, and nothing is written.
pub fn write_files(
    dir: &Path,
    files: &[(String, String)],
    check: bool,
    fix: &str,
    reporter: &Reporter,
) -> i32 {
    let mut seen = BTreeSet::new();
    for (name, _) in files {
        if !seen.insert(name) {
            return reporter.usage(format!(
                "{} would be written twice: two inputs declare protocols of the same name \
                 (select one with --protocol, or rename one)",
                dir.join(name).display()
            ));
        }
    }
    let mut stale = Vec::new();
    let mut written = 0;
    for (name, content) in files {
        let target = dir.join(name);
        let current = std::fs::read_to_string(&target).ok();
        if current.as_deref() == Some(content.as_str()) {
            continue;
        }
        if check {
            let why = if current.is_some() {
                "stale"
            } else {
                "missing"
            };
            stale.push(format!("{} ({why})", target.display()));
            continue;
        }
        if let Err(e) = driver::write_if_changed(&target, content) {
            return reporter.usage(format!("cannot write {}: {e}", target.display()));
        }
        written += 1;
    }
    if check {
        if stale.is_empty() {
            reporter.note(format!(
                "{}: {} files up to date",
                dir.display(),
                files.len()
            ));
            return OK;
        }
        eprintln!("not up to date:");
        for s in &stale {
            eprintln!("  {s}");
        }
        eprintln!("run `{fix}` (or `cargo xtask codegen`) to regenerate");
        return PROBLEMS;
    }
    reporter.note(format!(
        "{}: {written} written, {} unchanged",
        dir.display(),
        files.len() - written
    ));
    OK
}

/// The path of `target` as seen from directory `from` (each relative to the
/// current directory, or absolute), with `/` separators.
pub fn relative(from: &Path, target: &Path) -> String {
    let abs = |p: &Path| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let norm = |p: PathBuf| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
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
