//! The audit and wiring tables (`choreoc audit`): per protocol, whether it is
//! really run by the code (Wired) or only specified (Spec-only), with the
//! inventory, priorities, wiring plan, decision sources and an annotation
//! summary. Status is computed from call sites found in the code; what
//! cannot be derived comes from the manifest `protocols/manifest.yaml`.

pub mod manifest;
pub mod scan;

use crate::check::model::{LoopKind, Protocol, Stmt};
use crate::diag::{Diagnostic, SourceFile};
use crate::emit::rust::names::{role_traits, snake_case};
use crate::project::Projection;
use crate::simulate::{simulate, Config};
use askama::Template;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where the manifest is, relative to the workspace root.
pub const MANIFEST: &str = "protocols/manifest.yaml";
/// Where the audit is written, relative to the workspace root.
pub const OUTPUT: &str = "generated/docs/choreography_runtime_audit.md";

/// Whether a protocol is run by the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every role has a call site, and the entry point holds one.
    Wired,
    /// Not (yet) run; the reasons say what is missing.
    SpecOnly(Vec<String>),
}

/// The audit of one protocol.
#[derive(Clone, Debug)]
pub struct Row {
    /// The protocol.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// Call sites per role trait.
    pub sites: BTreeMap<String, Vec<scan::Site>>,
}

/// Problems that stop the audit, with the file they are in.
#[derive(Debug)]
pub struct Failure {
    /// The file the diagnostics point into.
    pub file: SourceFile,
    /// What is wrong.
    pub diagnostics: Vec<Diagnostic>,
}

struct Unit {
    protocol: Protocol,
    projection: Projection,
    location: String,
}

/// Audits the workspace at `root`: the rows and the rendered document.
pub fn audit(root: &Path) -> Result<(Vec<Row>, String), Box<Failure>> {
    let mut units = Vec::new();
    let dir = root.join("protocols");
    let files = crate::driver::find_sources(std::slice::from_ref(&dir)).unwrap_or_default();
    for path in files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let unit = crate::driver::compile(&rel, &bytes);
        if unit.has_errors() {
            return Err(Box::new(Failure {
                file: unit.file,
                diagnostics: unit.diagnostics,
            }));
        }
        let Some(module) = unit.module else { continue };
        for (i, projection) in unit.projections {
            units.push(Unit {
                protocol: module.protocols[i].clone(),
                projection,
                location: rel.clone(),
            });
        }
    }
    let text = std::fs::read_to_string(root.join(MANIFEST)).unwrap_or_default();
    let file = SourceFile::new(MANIFEST, text);
    let manifest = manifest::parse(&file).map_err(|d| {
        Box::new(Failure {
            file: file.clone(),
            diagnostics: vec![d],
        })
    })?;
    let names: Vec<String> = units.iter().map(|u| u.protocol.name.clone()).collect();
    let diagnostics = manifest::check(&manifest, &file, &names);
    if !diagnostics.is_empty() {
        return Err(Box::new(Failure { file, diagnostics }));
    }
    let wanted: Vec<(String, String)> = units
        .iter()
        .flat_map(|u| {
            let krate = format!("choreo_{}", snake_case(&u.protocol.name));
            role_traits(&u.protocol)
                .into_iter()
                .map(move |t| (krate.clone(), t))
        })
        .collect();
    let sites = scan::call_sites(root, &wanted);
    let mut rows = Vec::new();
    let mut pages = Vec::new();
    for u in &units {
        let entry = manifest
            .protocols
            .iter()
            .map(|e| &e.value)
            .find(|e| e.protocol.value == u.protocol.name)
            .expect("checked: every protocol has an entry");
        let krate = format!("choreo_{}", snake_case(&u.protocol.name));
        let mut reasons = Vec::new();
        let mut by_role = BTreeMap::new();
        for (r, role) in u.protocol.roles.iter().zip(role_traits(&u.protocol)) {
            let found = sites
                .get(&(krate.clone(), role.clone()))
                .cloned()
                .unwrap_or_default();
            if found.is_empty() {
                reasons.push(format!("role {}: no call site", r.name));
            }
            by_role.insert(role, found);
        }
        if !root.join(&entry.entry_point).is_file() {
            reasons.push(format!(
                "entry point `{}` does not exist",
                entry.entry_point
            ));
        } else if !by_role
            .values()
            .flatten()
            .any(|s| s.file == entry.entry_point)
        {
            reasons.push(format!("entry point `{}` runs no role", entry.entry_point));
        }
        let status = if reasons.is_empty() {
            Status::Wired
        } else {
            Status::SpecOnly(reasons)
        };
        pages.push(page(u, entry, &status, &by_role));
        rows.push(Row {
            name: u.protocol.name.clone(),
            status,
            sites: by_role,
        });
    }
    Ok((rows, render(&manifest, pages)))
}

struct Page {
    name: String,
    location: String,
    category: String,
    status: &'static str,
    ticket: String,
    notes: String,
    priority: Option<manifest::Priority>,
    owner: String,
    entry_point: String,
    guard_chain: String,
    dependencies: String,
    provide_message: String,
    select_branch: String,
    sites: Vec<(String, String)>,
    roles: Vec<(String, String, String)>,
    paths: Vec<String>,
    mermaid: String,
}

fn page(
    u: &Unit,
    e: &manifest::Entry,
    status: &Status,
    sites: &BTreeMap<String, Vec<scan::Site>>,
) -> Page {
    let mut notes = vec![];
    if !e.notes.is_empty() {
        notes.push(e.notes.clone());
    }
    if let Status::SpecOnly(reasons) = status {
        notes.extend(reasons.iter().cloned());
    }
    let deciders = deciders(&u.protocol, &u.protocol.body);
    let select_branch = if deciders.is_empty() {
        "N/A (no choices)".to_string()
    } else {
        let prose = e
            .select_branch
            .clone()
            .unwrap_or_else(|| "(no source given in the manifest)".into());
        format!(
            "{}: {prose}",
            deciders.into_iter().collect::<Vec<_>>().join("; ")
        )
    };
    let (roles, paths) = annotation_summary(&u.protocol, &u.projection);
    Page {
        name: u.protocol.name.clone(),
        location: u.location.clone(),
        category: e.category.clone(),
        status: if *status == Status::Wired {
            "Wired"
        } else {
            "Spec-only"
        },
        ticket: e.ticket.clone(),
        notes: notes.join("; "),
        priority: e.priority,
        owner: e.owner.clone(),
        entry_point: e.entry_point.clone(),
        guard_chain: e.guard_chain.clone(),
        dependencies: e.dependencies.clone(),
        provide_message: e.provide_message.clone(),
        select_branch,
        sites: sites
            .iter()
            .map(|(role, s)| {
                let list: Vec<String> = s
                    .iter()
                    .map(|s| format!("`{}:{}`", s.file, s.line))
                    .collect();
                (
                    role.clone(),
                    if list.is_empty() {
                        "none".into()
                    } else {
                        list.join(", ")
                    },
                )
            })
            .collect(),
        roles,
        paths,
        mermaid: crate::emit::diagram::sequence_mermaid(&u.protocol, &u.projection, &u.location)
            .lines()
            .filter(|l| !l.starts_with("%%"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Who decides what: `Initiator (Abort/Commit)`, `Coordinator (loop rounds)`.
fn deciders(p: &Protocol, stmts: &[Stmt]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in stmts {
        match s {
            Stmt::Message(_) => {}
            Stmt::Choice(c) => {
                let labels: Vec<&str> = c.branches.iter().map(|b| b.label.as_str()).collect();
                out.insert(format!(
                    "{} ({})",
                    p.participant_name(&c.chooser),
                    labels.join("/")
                ));
                c.branches
                    .iter()
                    .for_each(|b| out.extend(deciders(p, &b.body)));
            }
            Stmt::Loop(l) => {
                if let LoopKind::Decide(d) = &l.kind {
                    out.insert(format!("{} (another round?)", p.participant_name(d)));
                }
                out.extend(deciders(p, &l.body));
            }
            Stmt::ForEach(e) => out.extend(deciders(p, &e.body)),
        }
    }
    out
}

/// Per role: capabilities required and flow cost per simulated path.
#[allow(clippy::type_complexity)]
fn annotation_summary(
    p: &Protocol,
    proj: &Projection,
) -> (Vec<(String, String, String)>, Vec<String>) {
    let mut caps: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut cost: BTreeMap<(usize, String), u64> = BTreeMap::new();
    crate::check::rules::each_message(&p.body, &mut |m| {
        if let Some(a) = &m.from_annotations {
            caps.entry(m.from.role)
                .or_default()
                .extend(a.guard_capability.iter().cloned());
            cost.entry((m.from.role, m.label.clone()))
                .or_insert(a.flow_cost.unwrap_or(0));
        }
    });
    let config = Config {
        max_paths: 64,
        ..Config::default()
    };
    let report = simulate(p, proj, &config);
    let mut per_role: Vec<Vec<u64>> = vec![Vec::new(); p.roles.len()];
    for path in &report.paths {
        let mut totals = vec![0u64; p.roles.len()];
        let mut members = vec![0u64; p.roles.len()];
        for (i, name) in report.processes.iter().enumerate() {
            let role = p
                .roles
                .iter()
                .position(|r| name.split('[').next() == Some(r.name.as_str()))
                .unwrap_or(0);
            members[role] += 1;
            for event in &path.traces[i] {
                if let Some(label) = event.strip_prefix('!').and_then(|e| e.rsplit('.').next()) {
                    totals[role] += cost.get(&(role, label.to_string())).copied().unwrap_or(0);
                }
            }
        }
        for (r, total) in totals.into_iter().enumerate() {
            per_role[r].push(total / members[r].max(1));
        }
    }
    let roles = p
        .roles
        .iter()
        .enumerate()
        .map(|(r, role)| {
            let c = caps
                .get(&r)
                .map_or_else(Vec::new, |s| s.iter().map(|c| format!("`{c}`")).collect());
            let costs: Vec<String> = per_role[r].iter().map(u64::to_string).collect();
            let name = if role.family.is_some() {
                format!("{}[*]", role.name)
            } else {
                role.name.clone()
            };
            (
                name,
                if c.is_empty() {
                    "—".into()
                } else {
                    c.join(", ")
                },
                costs.join(" / "),
            )
        })
        .collect();
    let paths = report
        .paths
        .iter()
        .map(|path| {
            if path.decisions.is_empty() {
                "no choices".into()
            } else {
                path.decisions.join(", ")
            }
        })
        .collect();
    (roles, paths)
}

struct CategoryRows<'a> {
    name: String,
    rows: Vec<&'a Page>,
}

#[derive(Template)]
#[template(path = "docs/audit.md.askama", escape = "none")]
struct Doc<'a> {
    wired: Vec<String>,
    spec_only: Vec<String>,
    total: usize,
    categories: Vec<CategoryRows<'a>>,
    priorities: Vec<(String, String, String)>,
    all: &'a [Page],
    family_size: usize,
}

fn render(manifest: &manifest::Manifest, pages: Vec<Page>) -> String {
    // Categories in the order the manifest first names them.
    let mut order: Vec<String> = Vec::new();
    for e in &manifest.protocols {
        if !order.contains(&e.value.category) {
            order.push(e.value.category.clone());
        }
    }
    let mut pages = pages;
    let rank = |name: &str| {
        manifest
            .protocols
            .iter()
            .position(|e| e.value.protocol.value == name)
            .unwrap_or(0)
    };
    pages.sort_by_key(|p| rank(&p.name));
    let categories = order
        .iter()
        .map(|c| CategoryRows {
            name: c.clone(),
            rows: pages.iter().filter(|p| &p.category == c).collect(),
        })
        .collect();
    let priorities = manifest
        .priorities
        .iter()
        .map(|(prio, why)| {
            let names: Vec<&str> = pages
                .iter()
                .filter(|p| p.priority == Some(*prio))
                .map(|p| p.name.as_str())
                .collect();
            (prio.as_str().to_string(), names.join(", "), why.clone())
        })
        .collect();
    let doc = Doc {
        wired: pages
            .iter()
            .filter(|p| p.status == "Wired")
            .map(|p| p.name.clone())
            .collect(),
        spec_only: pages
            .iter()
            .filter(|p| p.status != "Wired")
            .map(|p| p.name.clone())
            .collect(),
        total: pages.len(),
        categories,
        priorities,
        all: &pages,
        family_size: Config::default().default_family_size,
    };
    doc.render()
        .unwrap_or_else(|e| format!("template error: {e}\n"))
        + "\n"
}
