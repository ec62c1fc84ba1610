//! A protocol's status from its two kinds of evidence. It is **Wired** when
//! its generated crate exists, every role has a counted call site (static
//! evidence, [`super::code`]), and every role completed at least one session
//! that ran through one of that role's counted call sites, with the
//! protocol's current digest, and whose trace is a path of the role's local
//! type (dynamic evidence, [`super::evidence`], [`super::trace`]); and the
//! manifest's entry point holds one of the counted call sites. Anything
//! missing is named in the reasons.

use super::code::Site;
use super::evidence::Record;
use crate::check::model::Protocol;
use crate::emit::rust::names::role_traits;
use crate::project::Projection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Most sites or entry points listed in one reason.
const LISTED: usize = 3;

/// What was found for one role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleEvidence {
    /// The role as declared.
    pub role: String,
    /// Its counted call sites.
    pub sites: Vec<Site>,
    /// Call sites found but not counted (with why, in `counted`).
    pub ignored: Vec<Site>,
    /// Sessions completed through each counted site (by index in `sites`),
    /// per test (`None`: a thread without a name).
    pub completed: BTreeMap<usize, BTreeMap<Option<String>, usize>>,
}

/// The inputs of one protocol's status.
pub struct Inputs<'a> {
    /// The protocol.
    pub protocol: &'a Protocol,
    /// Its projection.
    pub projection: &'a Projection,
    /// Its digest today, as 32 hex digits.
    pub digest: &'a str,
    /// Whether its generated crate exists (and its directory, for the reason).
    pub generated: Result<(), String>,
    /// Every call site of its generated crate.
    pub sites: Vec<&'a Site>,
    /// Every record of this protocol, if evidence was given.
    pub records: Option<Vec<&'a Record>>,
    /// The manifest's entry point.
    pub entry_point: &'a str,
    /// The workspace root (entry points of records may be absolute).
    pub root: &'a Path,
    /// The directories of the workspace's packages, relative to the root.
    pub packages: &'a [String],
}

/// The evidence per role and the reasons the protocol is not Wired (none: Wired).
pub fn evaluate(i: &Inputs<'_>) -> (Vec<RoleEvidence>, Vec<String>) {
    let mut reasons = Vec::new();
    if let Err(why) = &i.generated {
        reasons.push(why.clone());
    }
    if i.records.is_none() {
        reasons.push("no evidence".into());
    }
    let traits = role_traits(i.protocol);
    let mut roles: Vec<RoleEvidence> = i
        .protocol
        .roles
        .iter()
        .zip(&traits)
        .map(|(r, name)| {
            let (sites, ignored): (Vec<Site>, Vec<Site>) = i
                .sites
                .iter()
                .filter(|s| s.role.as_deref() == Some(name.as_str()) || s.role.is_none())
                .map(|s| (*s).clone())
                .partition(|s| s.counted.is_ok() && s.role.is_some());
            RoleEvidence {
                role: r.name.clone(),
                sites,
                ignored,
                completed: BTreeMap::new(),
            }
        })
        .collect();
    for (r, name) in roles.iter().zip(&traits) {
        if r.sites.is_empty() {
            let mut why = format!(
                "role {}: no call site `execute_as(As::{}(..), ..)` reachable from a public API or a binary's `main`",
                r.role, name
            );
            let listed: Vec<String> = r
                .ignored
                .iter()
                .take(LISTED)
                .map(|s| {
                    format!(
                        "`{}:{}` {}",
                        s.file,
                        s.line,
                        s.counted.as_ref().err().map_or("", String::as_str)
                    )
                })
                .collect();
            if !listed.is_empty() {
                why += &format!(" (not counted: {})", listed.join("; "));
            }
            reasons.push(why);
        }
    }
    if let Some(records) = &i.records {
        let mut problems: Vec<Problems> = vec![Problems::default(); roles.len()];
        for rec in records {
            let role_name = rec.peer.split('[').next().unwrap_or("");
            let Some(r) = i.protocol.roles.iter().position(|x| x.name == role_name) else {
                continue;
            };
            let p = &mut problems[r];
            if rec.digest != i.digest {
                p.stale += 1;
                continue;
            }
            let entry = rec.entry_at(i.root);
            let site = entry.as_ref().and_then(|e| {
                roles[r]
                    .sites
                    .iter()
                    .position(|s| s.file == e.file && s.line == e.line && s.column == e.column)
            });
            let Some(site) = site else {
                p.elsewhere
                    .insert(entry.map_or(rec.entry.clone(), |e| format!("{}:{}", e.file, e.line)));
                continue;
            };
            if !rec.completed() {
                p.failed.insert(rec.outcome.clone());
                continue;
            }
            if let Err(why) = super::trace::accepts(i.protocol, i.projection, &rec.peer, &rec.trace)
            {
                p.bad_trace.insert(format!("{}: {why}", rec.peer));
                continue;
            }
            *roles[r]
                .completed
                .entry(site)
                .or_default()
                .entry(rec.test.clone())
                .or_default() += 1;
        }
        for (r, p) in roles.iter().zip(&problems) {
            if r.completed.is_empty() && !r.sites.is_empty() {
                reasons.push(format!(
                    "role {}: no session completed through a call site{}",
                    r.role,
                    p.describe()
                ));
            }
        }
    }
    let in_package = i
        .packages
        .iter()
        .any(|p| p.is_empty() || Path::new(i.entry_point).starts_with(p));
    if !i.root.join(i.entry_point).is_file() {
        reasons.push(format!("entry point `{}` does not exist", i.entry_point));
    } else if !in_package {
        reasons.push(format!(
            "entry point `{}` is in no package of the workspace",
            i.entry_point
        ));
    } else if !roles
        .iter()
        .flat_map(|r| &r.sites)
        .any(|s| s.file == i.entry_point)
    {
        reasons.push(format!(
            "entry point `{}` holds no counted call site",
            i.entry_point
        ));
    }
    (roles, reasons)
}

/// What was wrong with a role's records.
#[derive(Clone, Default)]
struct Problems {
    stale: usize,
    elsewhere: BTreeSet<String>,
    failed: BTreeSet<String>,
    bad_trace: BTreeSet<String>,
}

impl Problems {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let list = |set: &BTreeSet<String>| {
            let mut v: Vec<String> = set.iter().take(LISTED).map(|s| format!("`{s}`")).collect();
            if set.len() > LISTED {
                v.push(format!("and {} more", set.len() - LISTED));
            }
            v.join(", ")
        };
        if !self.failed.is_empty() {
            let all = if self.bad_trace.is_empty() {
                "every session through a call site failed"
            } else {
                "sessions failed"
            };
            parts.push(format!("{all} ({})", list(&self.failed)));
        }
        if !self.bad_trace.is_empty() {
            parts.push(format!(
                "traces on no path of the protocol ({})",
                list(&self.bad_trace)
            ));
        }
        if !self.elsewhere.is_empty() {
            parts.push(format!(
                "sessions run from entry points that are not call sites ({})",
                list(&self.elsewhere)
            ));
        }
        if self.stale > 0 {
            parts.push("sessions of another version of the protocol (digest differs)".into());
        }
        if parts.is_empty() {
            " (no session of this role in the evidence)".into()
        } else {
            format!(": {}", parts.join("; "))
        }
    }
}
