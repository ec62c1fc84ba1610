//! Where the code runs each role: call sites of generated runners found by
//! walking the workspace's hand-written Rust sources.
//!
//! A call site of role `R` of protocol `P` is the text
//! `choreo_<p>::As::R(` (the generated crate by its full name): constructing
//! the role that `execute_as` runs. Generated code, build output and the
//! code generation fixtures are not searched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A place in a source file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    /// The file, relative to the workspace root, with `/` separators.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
}

/// Directories (relative to the root) never searched.
const SKIP: &[&str] = &["target", "generated", "tests/fixtures/generated", ".git"];

/// The hand-written `.rs` files under `root`, sorted.
pub fn sources(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let rel = e.path().strip_prefix(root).unwrap_or(e.path());
            let rel = rel.to_string_lossy().replace('\\', "/");
            !SKIP.iter().any(|s| rel == *s)
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// The call sites of each `(crate, role trait)` pair asked for.
pub fn call_sites(
    root: &Path,
    wanted: &[(String, String)],
) -> BTreeMap<(String, String), Vec<Site>> {
    let mut found: BTreeMap<(String, String), Vec<Site>> =
        wanted.iter().map(|w| (w.clone(), Vec::new())).collect();
    let needles: Vec<((String, String), String)> = wanted
        .iter()
        .map(|(k, r)| ((k.clone(), r.clone()), format!("{k}::As::{r}(")))
        .collect();
    for path in sources(root) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if text
            .lines()
            .next()
            .is_some_and(|l| l.contains("@generated"))
        {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        for (i, line) in text.lines().enumerate() {
            for (key, needle) in &needles {
                if in_code(line, needle) {
                    if let Some(sites) = found.get_mut(key) {
                        sites.push(Site {
                            file: rel.clone(),
                            line: i + 1,
                        });
                    }
                }
            }
        }
    }
    found
}

/// Whether `needle` occurs in `line` as code: not after `//` and not inside
/// a string literal (an even number of unescaped quotes before it).
fn in_code(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(at, _)| {
        let before = &line[..at];
        let quotes = before.matches('"').count() - before.matches("\\\"").count();
        !before.contains("//") && quotes.is_multiple_of(2)
    })
}

#[cfg(test)]
mod tests {
    use super::in_code;

    #[test]
    fn only_code_counts_as_a_call_site() {
        let n = "choreo_x::As::A(";
        assert!(in_code("    run(choreo_x::As::A(&mut a), &mut adapter)", n));
        assert!(!in_code("    // choreo_x::As::A( was here", n));
        assert!(!in_code("    let s = \"choreo_x::As::A(\";", n));
        assert!(in_code("    let s = \"x\"; f(choreo_x::As::A(a))", n));
    }
}
