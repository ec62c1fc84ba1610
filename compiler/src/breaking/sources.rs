//! Reading the two versions to compare: `.choreo` files and directories on
//! disk, or the same paths at a git revision (read with the `git` command).

use super::Version;
use crate::driver;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The version made of `paths` (files, or directories searched recursively).
pub fn from_paths(paths: &[PathBuf]) -> Result<Version, String> {
    let files = driver::find_sources(paths).map_err(|e| e.to_string())?;
    let mut units = Vec::new();
    for path in &files {
        units.push(
            driver::compile_path(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
    }
    Ok(Version { units })
}

/// The version made of `paths` as they are at git revision `rev` (of the
/// repository holding each path); files are named `REV:path/in/repo`.
pub fn from_git(rev: &str, paths: &[PathBuf]) -> Result<Version, String> {
    let mut names: Vec<(PathBuf, String)> = Vec::new();
    for path in paths {
        let (dir, spec) = if path.is_dir() {
            (path.clone(), ".".to_string())
        } else {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                name,
            )
        };
        let listing = git(
            &dir,
            &[
                "ls-tree",
                "-r",
                "--name-only",
                "--full-name",
                rev,
                "--",
                &spec,
            ],
        )?;
        for file in String::from_utf8_lossy(&listing).lines() {
            if file.ends_with(".choreo") {
                names.push((dir.clone(), file.to_string()));
            }
        }
    }
    names.sort_by(|a, b| a.1.cmp(&b.1));
    names.dedup_by(|a, b| a.1 == b.1);
    let mut units = Vec::new();
    for (dir, file) in names {
        let bytes = git(&dir, &["show", &format!("{rev}:{file}")])?;
        units.push(driver::compile(&format!("{rev}:{file}"), &bytes));
    }
    Ok(Version { units })
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}
