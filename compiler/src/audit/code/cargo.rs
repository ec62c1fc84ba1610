//! The workspace as Cargo sees it, read from the `Cargo.toml` files (no
//! `cargo` is run): the members of the root manifest's `[workspace]` (globs
//! in `members`, `exclude`), or the root package alone; per package its
//! library and binary targets (explicit, or Cargo's defaults), its default
//! features and its normal dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use toml::{Table, Value};

/// One package of the workspace.
#[derive(Clone, Debug)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its library and binaries.
    pub targets: Vec<Target>,
    /// The features a plain build enables: `default` and what it names.
    pub default_features: BTreeSet<String>,
    /// Normal, non-optional dependencies: extern name → dependency.
    pub dependencies: BTreeMap<String, Dependency>,
}

/// A library or binary target.
#[derive(Clone, Debug)]
pub struct Target {
    /// The crate name (`choreo_services`, or the binary's name).
    pub name: String,
    /// Whether it is a binary (its root is `main`), not the library.
    pub bin: bool,
    /// The root source file.
    pub root: PathBuf,
}

/// A dependency as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The package it names.
    pub package: String,
    /// Its directory, for a path dependency.
    pub path: Option<PathBuf>,
}

/// The workspace's packages, sorted by directory (none without a root
/// `Cargo.toml`). Errors name the manifest that cannot be read.
pub fn packages(root: &Path) -> Result<Vec<Package>, String> {
    if !root.join("Cargo.toml").exists() {
        return Ok(Vec::new());
    }
    let manifest = read(&root.join("Cargo.toml"))?;
    let shared = manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    if manifest.contains_key("package") {
        dirs.insert(root.to_path_buf());
    }
    if let Some(ws) = manifest.get("workspace").and_then(Value::as_table) {
        let excluded: Vec<PathBuf> = strings(ws.get("exclude"))
            .iter()
            .map(|e| normalize(&root.join(e)))
            .collect();
        for pattern in strings(ws.get("members")) {
            for dir in glob(root, &pattern) {
                let dir = normalize(&dir);
                if dir.join("Cargo.toml").is_file() && !excluded.iter().any(|e| dir.starts_with(e))
                {
                    dirs.insert(dir);
                }
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        let m = if dir == root {
            manifest.clone()
        } else {
            read(&dir.join("Cargo.toml"))?
        };
        if let Some(p) = package(&dir, &m, root, &shared) {
            out.push(p);
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.parse::<Table>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn package(dir: &Path, m: &Table, root: &Path, shared: &Table) -> Option<Package> {
    let pkg = m.get("package")?.as_table()?;
    let name = pkg.get("name")?.as_str()?.to_string();
    let mut targets = Vec::new();
    let lib = m.get("lib").and_then(Value::as_table);
    let is_macro = lib
        .and_then(|l| l.get("proc-macro"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let lib_path = lib
        .and_then(|l| l.get("path"))
        .and_then(Value::as_str)
        .map_or_else(|| dir.join("src/lib.rs"), |p| dir.join(p));
    if lib_path.is_file() && !is_macro {
        let lib_name = lib
            .and_then(|l| l.get("name"))
            .and_then(Value::as_str)
            .map_or_else(|| name.replace('-', "_"), str::to_string);
        targets.push(Target {
            name: lib_name,
            bin: false,
            root: lib_path,
        });
    }
    targets.extend(bins(dir, &name, m, pkg));
    let features = m.get("features").and_then(Value::as_table);
    let mut default_features = BTreeSet::new();
    let mut todo = vec!["default".to_string()];
    while let Some(f) = todo.pop() {
        for item in strings(features.and_then(|t| t.get(&f))) {
            if !item.contains(':') && !item.contains('/') && default_features.insert(item.clone()) {
                todo.push(item);
            }
        }
    }
    let mut dependencies = BTreeMap::new();
    if let Some(deps) = m.get("dependencies").and_then(Value::as_table) {
        for (key, spec) in deps {
            if let Some(d) = dependency(dir, root, key, spec, shared) {
                dependencies.insert(key.replace('-', "_"), d);
            }
        }
    }
    Some(Package {
        name,
        dir: dir.to_path_buf(),
        targets,
        default_features,
        dependencies,
    })
}

/// The binaries: `[[bin]]` entries, plus (unless `autobins = false`)
/// `src/main.rs`, `src/bin/*.rs` and `src/bin/*/main.rs`.
fn bins(dir: &Path, package: &str, m: &Table, pkg: &Table) -> Vec<Target> {
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    if pkg.get("autobins").and_then(Value::as_bool) != Some(false) {
        if dir.join("src/main.rs").is_file() {
            found.insert(package.to_string(), dir.join("src/main.rs"));
        }
        if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
            for e in entries.filter_map(Result::ok) {
                let p = e.path();
                if p.is_file() && p.extension().is_some_and(|x| x == "rs") {
                    if let Some(stem) = p.file_stem() {
                        found.insert(stem.to_string_lossy().into_owned(), p.clone());
                    }
                } else if p.join("main.rs").is_file() {
                    if let Some(n) = p.file_name() {
                        found.insert(n.to_string_lossy().into_owned(), p.join("main.rs"));
                    }
                }
            }
        }
    }
    for bin in m
        .get("bin")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_table)
    {
        let Some(name) = bin.get("name").and_then(Value::as_str) else {
            continue;
        };
        let path = match bin.get("path").and_then(Value::as_str) {
            Some(p) => dir.join(p),
            None if name == package && dir.join("src/main.rs").is_file() => dir.join("src/main.rs"),
            None if dir.join(format!("src/bin/{name}/main.rs")).is_file() => {
                dir.join(format!("src/bin/{name}/main.rs"))
            }
            None => dir.join(format!("src/bin/{name}.rs")),
        };
        found.insert(name.to_string(), path);
    }
    found
        .into_iter()
        .filter(|(_, p)| p.is_file())
        .map(|(name, root)| Target {
            name: name.replace('-', "_"),
            bin: true,
            root,
        })
        .collect()
}

fn dependency(
    dir: &Path,
    root: &Path,
    key: &str,
    spec: &Value,
    shared: &Table,
) -> Option<Dependency> {
    let Some(t) = spec.as_table() else {
        return Some(Dependency {
            package: key.to_string(),
            path: None,
        });
    };
    if t.get("optional").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    if t.get("workspace").and_then(Value::as_bool) == Some(true) {
        let mut d = dependency(root, root, key, shared.get(key)?, &Table::new())?;
        if let Some(p) = t.get("package").and_then(Value::as_str) {
            d.package = p.to_string();
        }
        return Some(d);
    }
    Some(Dependency {
        package: t
            .get("package")
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_string(),
        path: t
            .get("path")
            .and_then(Value::as_str)
            .map(|p| normalize(&dir.join(p))),
    })
}

/// The directories matching a `members` pattern (`*` and `?` within one
/// path component), sorted.
fn glob(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![root.to_path_buf()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in found {
            if part.contains(['*', '?']) {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .filter(|e| wildcard(part, &e.file_name().to_string_lossy()))
                    .map(|e| e.path())
                    .collect();
                entries.sort();
                next.extend(entries);
            } else {
                next.push(dir.join(part));
            }
        }
        found = next;
    }
    found
}

/// Whether `name` matches `pattern` (`*` any run, `?` any one character).
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `a/b/../c` as `a/c`, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards_match_within_a_component() {
        assert!(wildcard("*", "guardian_ceremony"));
        assert!(wildcard("choreo-*", "choreo-x"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "abbc"));
        assert!(!wildcard("x*", "y"));
    }
}
