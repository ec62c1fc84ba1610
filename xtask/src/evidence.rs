//! The audit's dynamic evidence: the entry points' tests run with
//! `CHOREO_EVIDENCE=target/choreo-evidence`, so the runtime records every
//! session a generated `execute_as` ran. The entry points' packages are the
//! workspace packages holding the manifest's `entry_point` files.
//!
//! A run is reused when its fingerprint matches: `target/choreo-evidence/fingerprint`
//! holds the SHA-256 of every file of the workspace (path and content; not
//! `target/`, `.git/` nor the audit document itself) as they were when the
//! tests were built, and is written only after the tests passed. Any change
//! to a file runs the tests again.

use choreoc::audit::{code::cargo, manifest, MANIFEST, OUTPUT};
use choreoc::diag::SourceFile;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where evidence is recorded, relative to the workspace root.
pub const DIR: &str = "target/choreo-evidence";
/// The fingerprint file in [`DIR`].
const FINGERPRINT: &str = "fingerprint";

/// Records (or reuses) the evidence of the entry points' tests. `Ok(None)`:
/// no entry point is in a workspace package, so there is nothing to run.
/// `Err`: the tests do not build, or fail (the message says which).
pub fn collect(root: &Path) -> Result<Option<PathBuf>, String> {
    let packages = cargo::packages(root)?;
    let text = std::fs::read_to_string(root.join(MANIFEST)).unwrap_or_default();
    let entry_points: Vec<String> = manifest::parse(&SourceFile::new(MANIFEST, text))
        .map(|m| {
            m.protocols
                .into_iter()
                .map(|e| e.value.entry_point)
                .collect()
        })
        .unwrap_or_default();
    let mut wanted: Vec<String> = Vec::new();
    let mut outside: Vec<String> = Vec::new();
    for entry in &entry_points {
        let path = cargo::normalize(&root.join(entry));
        let owner = packages
            .iter()
            .filter(|p| path.starts_with(&p.dir))
            .max_by_key(|p| p.dir.components().count());
        match owner {
            Some(p) if !wanted.contains(&p.name) => wanted.push(p.name.clone()),
            Some(_) => {}
            None if !outside.contains(entry) => outside.push(entry.clone()),
            None => {}
        }
    }
    wanted.sort();
    if !outside.is_empty() {
        let mut dirs: Vec<&str> = outside
            .iter()
            .map(|e| e.split('/').next().unwrap_or(e))
            .collect();
        dirs.sort();
        dirs.dedup();
        eprintln!(
            "audit: {} entry point(s), under {}, are in no package of the workspace: no test runs them",
            outside.len(),
            dirs.iter().map(|d| format!("{d}/")).collect::<Vec<_>>().join(", ")
        );
    }
    if wanted.is_empty() {
        eprintln!("audit: no entry point is in a workspace package: no evidence (every protocol is Spec-only)");
        return Ok(None);
    }
    let dir = root.join(DIR);
    let print = fingerprint(root)?;
    let stored = std::fs::read_to_string(dir.join(FINGERPRINT)).ok();
    if stored.as_deref() == Some(print.as_str()) {
        eprintln!(
            "audit: reusing the evidence in {DIR} (recorded by a test run of these same sources, fingerprint {})",
            &print[..12]
        );
        return Ok(Some(dir));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot clear {DIR}: {e}"))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {DIR}: {e}"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec!["test".to_string(), "--release".to_string()];
    for p in &wanted {
        args.push("-p".into());
        args.push(p.clone());
    }
    let shown = format!("cargo {}", args.join(" "));
    eprintln!("audit: building the entry points' tests: {shown} --no-run");
    let built = Command::new(&cargo)
        .args(&args)
        .arg("--no-run")
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err(format!(
            "the entry points' tests do not build (`{shown} --no-run` failed, above); \
             the audit needs their evidence, so nothing more was done"
        ));
    }
    eprintln!("audit: running the entry points' tests with CHOREO_EVIDENCE={DIR}: {shown}");
    let ran = Command::new(&cargo)
        .args(&args)
        .current_dir(root)
        .env("CHOREO_EVIDENCE", &dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !ran.success() {
        return Err(format!(
            "the entry points' tests failed (`{shown}`, above); fix them: the audit needs their evidence"
        ));
    }
    std::fs::write(dir.join(FINGERPRINT), &print)
        .map_err(|e| format!("cannot write {DIR}/{FINGERPRINT}: {e}"))?;
    Ok(Some(dir))
}

/// The SHA-256 of every file of the workspace that a test run depends on.
fn fingerprint(root: &Path) -> Result<String, String> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let rel = e.path().strip_prefix(root).unwrap_or(e.path());
            !(rel == Path::new("target") || rel == Path::new(".git"))
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for path in files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if rel == OUTPUT {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {rel}: {e}"))?;
        hash.update((rel.len() as u64).to_le_bytes());
        hash.update(rel.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
