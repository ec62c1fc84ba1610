//! The audit document: one page of facts per protocol, rendered with the
//! template `templates/docs/audit.md.askama`.

use super::manifest::{self, Entry};
use super::wiring::RoleEvidence;
use super::Status;
use crate::check::model::{LoopKind, Protocol, Stmt};
use crate::project::Projection;
use crate::simulate::{simulate, Config};
use askama::Template;
use std::collections::{BTreeMap, BTreeSet};

/// The heading of the section whose numbers `normalized` masks.
const EVIDENCE_SECTION: &str = "## Call Sites and Evidence";
/// What follows the session count in an evidence cell.
const COMPLETED: &str = " completed:";

/// The document with what may change without a change in behaviour masked:
/// line numbers of Rust files (`.rs:123`) everywhere; in the call sites and
/// evidence section every number (lines, session counts), and which tests
/// completed a role (a test that races a cancellation may or may not): only
/// whether sessions completed is kept. `--check` compares documents in this
/// form.
pub fn normalized(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut in_evidence = false;
    for line in doc.split_inclusive('\n') {
        if line.starts_with("## ") {
            in_evidence = line.trim_end() == EVIDENCE_SECTION;
        }
        let masked;
        let line = match line.rfind(COMPLETED) {
            Some(at) if in_evidence && line.starts_with("| ") => {
                masked = format!("{}{COMPLETED} |\n", &line[..at]);
                masked.as_str()
            }
            _ => line,
        };
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if !chars[i].is_ascii_digit() {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let after_rs = start >= 4 && chars[start - 4..start] == ['.', 'r', 's', ':'];
            if in_evidence || after_rs {
                out.push('#');
            } else {
                out.extend(&chars[start..i]);
            }
        }
    }
    out
}

/// One row of the call sites and evidence table.
struct SiteRow {
    role: String,
    site: String,
    function: String,
    evidence: String,
}

pub(super) struct Page {
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
    sites: Vec<SiteRow>,
    ignored: Vec<SiteRow>,
    roles: Vec<(String, String, String)>,
    paths: Vec<String>,
    mermaid: String,
}

/// The page of one protocol.
pub(super) fn page(
    protocol: &Protocol,
    projection: &Projection,
    location: &str,
    e: &Entry,
    status: &Status,
    roles: &[RoleEvidence],
    evidence: bool,
) -> Page {
    let mut notes = vec![];
    if !e.notes.is_empty() {
        notes.push(e.notes.clone());
    }
    if let Status::SpecOnly(reasons) = status {
        notes.extend(reasons.iter().cloned());
    }
    let deciders = deciders(protocol, &protocol.body);
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
    let (annotations, paths) = annotation_summary(protocol, projection);
    let mut sites = Vec::new();
    let mut ignored = Vec::new();
    for r in roles {
        if r.sites.is_empty() {
            sites.push(SiteRow {
                role: r.role.clone(),
                site: "none".into(),
                function: "—".into(),
                evidence: "—".into(),
            });
        }
        for (i, s) in r.sites.iter().enumerate() {
            let evidence = match r.completed.get(&i) {
                None if !evidence => "no evidence".to_string(),
                None => "none".to_string(),
                Some(tests) => {
                    let total: usize = tests.values().sum();
                    let list: Vec<String> = tests
                        .iter()
                        .map(|(t, n)| match t {
                            Some(t) => format!("`{t}` ({n})"),
                            None => format!("an unnamed thread ({n})"),
                        })
                        .collect();
                    format!("{total}{COMPLETED} {}", list.join(", "))
                }
            };
            sites.push(SiteRow {
                role: r.role.clone(),
                site: format!("`{}:{}`", s.file, s.line),
                function: format!("`{}`", s.function),
                evidence,
            });
        }
        for s in &r.ignored {
            let row = SiteRow {
                role: s.role.clone().unwrap_or_else(|| "?".into()),
                site: format!("`{}:{}`", s.file, s.line),
                function: format!("`{}`", s.function),
                evidence: s.counted.clone().err().unwrap_or_default(),
            };
            // A site of no known role is listed once, not under every role.
            if !ignored
                .iter()
                .any(|x: &SiteRow| x.site == row.site && x.role == row.role)
            {
                ignored.push(row);
            }
        }
    }
    Page {
        name: protocol.name.clone(),
        location: location.to_string(),
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
        sites,
        ignored,
        roles: annotations,
        paths,
        mermaid: crate::emit::diagram::sequence_mermaid(protocol, projection, location)
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
    evidence: bool,
    any_ignored: bool,
    unparsed: &'a [String],
    wired: Vec<String>,
    spec_only: Vec<String>,
    total: usize,
    categories: Vec<CategoryRows<'a>>,
    priorities: Vec<(String, String, String)>,
    all: &'a [Page],
    family_size: usize,
}

/// The whole document: `evidence` says whether evidence was given,
/// `unparsed` lists the Rust files the analysis could not read.
pub(super) fn render(
    manifest: &manifest::Manifest,
    pages: Vec<Page>,
    unparsed: &[String],
    evidence: bool,
) -> String {
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
        evidence,
        any_ignored: pages.iter().any(|p| !p.ignored.is_empty()),
        unparsed,
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
