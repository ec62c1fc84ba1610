//! Where the workspace's hand-written code runs generated runners: the
//! static half of the audit's evidence. Every package of the workspace is
//! read with `syn` from its targets' root files through its module tree
//! (`tree`), skipping what a normal build does not compile (`attrs`); paths
//! are resolved through `use` bindings (`resolve`); each function's calls
//! are collected (`calls`) and a call graph decides what runs from the
//! public API or a binary's `main` (`graph`). A call site is an
//! `execute_as(As::<Role>(..), ..)` call of a generated crate that the
//! package depends on; it counts only inside a reachable function written
//! as plain code (see docs/audit.md for what is not followed).

mod attrs;
mod calls;
pub mod cargo;
mod graph;
mod resolve;
mod tree;

use resolve::{Ctx, Resolver};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A generated crate the code may run.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Its package name (`choreo-guardian-ceremony`).
    pub package: String,
    /// Its directory.
    pub dir: PathBuf,
}

/// An `execute_as` call of a generated crate in hand-written code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    /// The generated crate's package name.
    pub package: String,
    /// The role run, as in `As::<Role>`, if the call names one.
    pub role: Option<String>,
    /// The file, relative to the workspace root, with `/` separators.
    pub file: String,
    /// The 1-based line of the call.
    pub line: usize,
    /// The 1-based column of the call (characters).
    pub column: usize,
    /// The function it is written in (`choreo_services::recovery::guardian_ceremony::run_guardian`).
    pub function: String,
    /// `Ok` when it counts; otherwise why not.
    pub counted: Result<(), String>,
}

/// The static analysis of the workspace.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Every call site found, sorted.
    pub sites: Vec<Site>,
    /// Files of module trees that could not be read or parsed, with why.
    pub unparsed: Vec<String>,
    /// The directories of the packages read, relative to the root.
    pub packages: Vec<String>,
}

/// Analyses the workspace at `root` for calls of the `generated` crates.
pub fn analyse(root: &Path, generated: &[Generated]) -> Result<Analysis, String> {
    let mut out = Analysis::default();
    let mut found: BTreeMap<(String, usize, usize, String), Site> = BTreeMap::new();
    for pkg in cargo::packages(root)? {
        let rel = pkg.dir.strip_prefix(root).unwrap_or(&pkg.dir);
        out.packages.push(rel.to_string_lossy().replace('\\', "/"));
        if generated
            .iter()
            .any(|g| cargo::normalize(&g.dir) == pkg.dir)
            || pkg.targets.iter().any(|t| is_generated(&t.root))
        {
            continue;
        }
        // Extern name → generated package, for dependencies on generated crates.
        let mut gen_of: BTreeMap<String, String> = BTreeMap::new();
        for (name, dep) in &pkg.dependencies {
            let hit = generated.iter().find(|g| {
                g.package == dep.package
                    && dep
                        .path
                        .as_ref()
                        .is_none_or(|p| *p == cargo::normalize(&g.dir))
            });
            if let Some(g) = hit {
                gen_of.insert(name.clone(), g.package.clone());
            }
        }
        let gen_names: BTreeSet<String> = gen_of.keys().cloned().collect();
        let lib = pkg.targets.iter().find(|t| !t.bin).map(|t| t.name.clone());
        for target in &pkg.targets {
            let mut externs: BTreeSet<String> = pkg.dependencies.keys().cloned().collect();
            if target.bin {
                externs.extend(lib.clone());
            }
            let krate = tree::load(&target.name, &target.root, root, &pkg.default_features);
            for (file, why) in &krate.unparsed {
                out.unparsed.push(format!("{file}: {why}"));
            }
            let r = Resolver::new(&krate, &externs, &gen_names);
            let mut edges = Vec::with_capacity(krate.fns.len());
            let mut raw = Vec::new();
            for (id, f) in krate.fns.iter().enumerate() {
                let ctx = Ctx {
                    module: f.module,
                    fns: chain(&krate, id),
                    self_ty: r.self_type(id),
                };
                let calls = calls::of_body(&r, &ctx, &f.body, &gen_names);
                let off = f.off.as_ref().map(verdict_text);
                edges.push(if off.is_none() {
                    calls.edges
                } else {
                    BTreeSet::new()
                });
                for s in calls.sites {
                    raw.push((Some(id), off.clone(), f.file.clone(), s));
                }
            }
            for (m, why, file, mac) in &krate.macros {
                let ctx = Ctx {
                    module: *m,
                    fns: Vec::new(),
                    self_ty: None,
                };
                for s in calls::of_macro(&r, &ctx, mac, &gen_names) {
                    raw.push((None, why.clone().filter(|w| !w.is_empty()), file.clone(), s));
                }
            }
            let live = graph::reachable(&krate, &r, target.bin, &edges);
            for (f, off, file, s) in raw {
                let function = f.map_or_else(
                    || format!("{} (outside any function)", krate.name),
                    |f| krate.fns[f].display.clone(),
                );
                let counted = if let Some(why) = off {
                    Err(why)
                } else if let Some(m) = &s.in_macro {
                    Err(format!(
                        "inside the macro `{m}`, which the analysis does not expand"
                    ))
                } else if let Err(why) = &s.role {
                    Err(why.clone())
                } else if f.is_some_and(|f| live.contains(&f)) {
                    Ok(())
                } else if target.bin {
                    Err(format!("in `{function}`, which `main` never calls"))
                } else {
                    Err(format!(
                        "in `{function}`, which nothing reachable from the public API calls"
                    ))
                };
                let site = Site {
                    package: gen_of[&s.krate].clone(),
                    role: s.role.ok(),
                    file,
                    line: s.line,
                    column: s.column,
                    function,
                    counted,
                };
                let key = (
                    site.file.clone(),
                    site.line,
                    site.column,
                    site.package.clone(),
                );
                match found.get(&key) {
                    Some(old) if old.counted.is_ok() || site.counted.is_err() => {}
                    _ => {
                        found.insert(key, site);
                    }
                }
            }
        }
    }
    out.sites = found.into_values().collect();
    out.sites.sort();
    out.unparsed.sort();
    out.unparsed.dedup();
    Ok(out)
}

fn verdict_text(v: &attrs::Verdict) -> String {
    match v {
        attrs::Verdict::On => String::new(),
        attrs::Verdict::Off(w) => format!("{w}: not compiled in a normal build"),
        attrs::Verdict::Opaque(w) => w.clone(),
    }
}

/// The functions enclosing function `f`, outermost first, and `f`.
fn chain(krate: &tree::Crate, f: usize) -> Vec<usize> {
    let mut out = vec![f];
    let mut at = f;
    while let tree::Kind::Nested(parent) = krate.fns[at].kind {
        out.insert(0, parent);
        at = parent;
    }
    out
}

/// Whether a file says it is generated on its first line.
fn is_generated(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.lines().next().map(|l| l.contains("@generated")))
        .unwrap_or(false)
}
