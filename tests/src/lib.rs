//! Support for the end-to-end tests: the trace a role's local type predicts.
//!
//! A runner's trace (what it sent and received, in order) must be exactly
//! what walking its projected local type predicts, given the same decisions:
//! that is trace conformance to the global protocol.

use choreoc::check::model::{Participant, Protocol, Sel};
use choreoc::project::local::{Action, Seq};
use std::collections::BTreeMap;

/// One traced event: `!Peer.Label` or `?Peer.Label`.
pub type Event = String;

/// Compiles a protocol file of `protocols/` and returns its model and the
/// local type of the target named `name` (`Initiator`, `Guardian`, `Guardian[0]`).
pub fn local_type(file: &str, name: &str) -> (Protocol, Seq) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocols")
        .join(file);
    let unit = choreoc::driver::compile_path(&path).expect("protocol file");
    let module = unit.module.expect("compiles");
    let (i, proj) = unit.projections.into_iter().next().expect("one protocol");
    let local = proj
        .locals
        .into_iter()
        .find(|l| l.name == name)
        .expect("target");
    (module.protocols[i].clone(), local.body)
}

/// Predicts the events of a role: `me` is its member index (for families),
/// `sizes` the family sizes, `choices` the branch it picks at each internal
/// choice, in order; at an external choice it follows the label `observed`
/// shows at that point.
pub fn predict(
    protocol: &Protocol,
    seq: &Seq,
    sizes: &BTreeMap<&str, u32>,
    choices: &mut Vec<&str>,
    observed: &[Event],
) -> Vec<Event> {
    let mut out = Vec::new();
    walk(
        protocol,
        seq,
        sizes,
        choices,
        observed,
        &mut BTreeMap::new(),
        &mut out,
    );
    out
}

fn peers(
    protocol: &Protocol,
    p: &Participant,
    sizes: &BTreeMap<&str, u32>,
    vars: &BTreeMap<String, u32>,
) -> Vec<String> {
    let name = &protocol.roles[p.role].name;
    let n = sizes.get(name.as_str()).copied().unwrap_or(1);
    match &p.sel {
        Sel::Single => vec![name.clone()],
        Sel::All => (0..n).map(|k| format!("{name}[{k}]")).collect(),
        Sel::Member(k) => vec![format!("{name}[{k}]")],
        Sel::Range(a, b) => (*a..*b).map(|k| format!("{name}[{k}]")).collect(),
        Sel::Var(v) => vec![format!("{name}[{}]", vars.get(v).copied().unwrap_or(0))],
    }
}

fn walk(
    protocol: &Protocol,
    seq: &Seq,
    sizes: &BTreeMap<&str, u32>,
    choices: &mut Vec<&str>,
    observed: &[Event],
    vars: &mut BTreeMap<String, u32>,
    out: &mut Vec<Event>,
) {
    for a in seq {
        match a {
            Action::Send { to, label, .. } => out.extend(
                peers(protocol, to, sizes, vars)
                    .into_iter()
                    .map(|p| format!("!{p}.{label}")),
            ),
            Action::Recv { from, label, .. } => out.extend(
                peers(protocol, from, sizes, vars)
                    .into_iter()
                    .map(|p| format!("?{p}.{label}")),
            ),
            Action::Select { branches, .. } => {
                let pick = if choices.is_empty() {
                    branches[0].0.clone()
                } else {
                    choices.remove(0).to_string()
                };
                let (_, body) = branches
                    .iter()
                    .find(|(l, _)| *l == pick)
                    .expect("a branch of this choice");
                walk(protocol, body, sizes, choices, observed, vars, out);
            }
            Action::Branch { from, alts } => {
                for p in peers(protocol, from, sizes, vars) {
                    let seen = observed.get(out.len()).cloned().unwrap_or_default();
                    let alt = alts
                        .iter()
                        .find(|a| seen == format!("?{p}.{}", a.label))
                        .unwrap_or(&alts[0]);
                    out.push(format!("?{p}.{}", alt.label));
                    walk(protocol, &alt.body, sizes, choices, observed, vars, out);
                }
            }
            Action::Foreach { family, var, body } => {
                let n = sizes
                    .get(protocol.roles[*family].name.as_str())
                    .copied()
                    .unwrap_or(1);
                for k in 0..n {
                    vars.insert(var.clone(), k);
                    walk(protocol, body, sizes, choices, observed, vars, out);
                }
                vars.remove(var);
            }
            Action::Repeat { .. } | Action::Loop { .. } | Action::Jump(_) => {
                panic!("predict: loops are not supported; the protocols tested here have none")
            }
        }
    }
}

/// Compiles a `.choreo` file (a path from the workspace root): its (only)
/// protocol and projection.
pub fn compile(file: &str) -> (Protocol, choreoc::project::Projection) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(file);
    let unit = choreoc::driver::compile_path(&path).expect("protocol file");
    assert!(!unit.has_errors(), "{file}: {:?}", unit.diagnostics);
    let module = unit.module.expect("compiles");
    let (i, proj) = unit.projections.into_iter().next().expect("one protocol");
    (module.protocols[i].clone(), proj)
}

/// The runtime peer of a simulated process (`Initiator`, `Guardian[2]`) of
/// `protocol`, named as its tables name it.
pub fn peer_in(protocol: &'static choreo_runtime::Protocol, process: &str) -> choreo_runtime::Peer {
    let (name, member) = match process.split_once('[') {
        Some((family, rest)) => {
            let index = rest.trim_end_matches(']').parse().expect("member index");
            (family, Some(index))
        }
        None => (process, None),
    };
    let decl = protocol
        .roles
        .iter()
        .find(|r| r.name == name)
        .expect("a role of the protocol");
    match member {
        Some(k) => choreo_runtime::Peer::member(decl.name, k),
        None => choreo_runtime::Peer::role(decl.name),
    }
}

/// The roster of the simulated processes: each role, each family at its size.
pub fn roster_of(processes: &[String]) -> choreo_runtime::Roster {
    let mut sizes: BTreeMap<String, u32> = BTreeMap::new();
    let mut roster = choreo_runtime::Roster::new();
    for p in processes {
        match p.split_once('[') {
            Some((family, rest)) => {
                let k: u32 = rest.trim_end_matches(']').parse().expect("member index");
                let size = sizes.entry(family.to_string()).or_default();
                *size = (*size).max(k + 1);
            }
            None => roster = roster.with_role(p),
        }
    }
    for (family, size) in sizes {
        roster = roster.with_family(&family, size);
    }
    roster
}

/// The decisions process `process` took on a simulated path, in order.
pub fn decisions_of(decisions: &[String], process: &str) -> Vec<String> {
    let prefix = format!("{process}: ");
    decisions
        .iter()
        .filter_map(|d| d.strip_prefix(&prefix).map(str::to_string))
        .collect()
}
