//! `choreoc breaking`: does a new version of some protocols still work with
//! the deployed old one?
//!
//! Every protocol present in both versions is compared per role, in three
//! categories (modelled on `buf breaking`):
//! - **wire-breaking** (`E1201`): an old and a new implementation of different
//!   roles can no longer complete a session together. Decided per role (and
//!   per singled-out family member) by a subtyping check between the old and
//!   the new local type ([`subtype`]): the new role must accept everything
//!   old peers may send and send only what they accept. Removed protocols and
//!   roles, added roles and changed family shapes are wire-breaking too.
//! - **API-breaking** (`E1202`): the wire is compatible but the generated Rust
//!   API changes ([`api`]): trait methods, payload structs, choice enums,
//!   associated types, parameters, roles.
//! - **compatible** (`W1203`): annotations and attributes that change what
//!   a send does at run time without changing the wire or the API
//!   ([`compat`]). Comments, layout and reorderings that project to the same
//!   local types are not reported at all.

pub mod api;
mod compat;
pub mod machine;
pub mod render;
pub mod sources;
pub mod subtype;

use crate::check::model::{FamilySize, Protocol};
use crate::diag::{Code, Span};
use crate::driver::Unit;
use crate::project::{LocalType, Projection};
use machine::Sites;
use std::collections::{BTreeMap, BTreeSet};

/// The three categories of change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// Old and new implementations cannot complete a session together.
    Wire,
    /// The wire is compatible, the generated Rust API is not.
    Api,
    /// Neither the wire nor the API changes; run-time behaviour may.
    Compatible,
}

impl Category {
    /// `wire`, `api` or `compatible`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Wire => "wire",
            Category::Api => "api",
            Category::Compatible => "compatible",
        }
    }

    /// The diagnostic code of findings of this category.
    pub fn code(self) -> Code {
        match self {
            Category::Wire => Code::WireBreaking,
            Category::Api => Code::ApiBreaking,
            Category::Compatible => Code::CompatibleChange,
        }
    }
}

/// A place in one file of one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Which file of the version (an index into its units).
    pub file: usize,
    /// Where in that file.
    pub span: Span,
    /// What the label says there.
    pub label: String,
}

/// One change found between the two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Its category.
    pub category: Category,
    /// The protocol.
    pub protocol: String,
    /// The role (or family member), when the change is a role's.
    pub role: Option<String>,
    /// What changed.
    pub message: String,
    /// Where, in the new version (absent for what was removed).
    pub new: Option<Site>,
    /// Where, in the old version (absent for what was added).
    pub old: Option<Site>,
    /// What it means, or what to do.
    pub help: Option<String>,
}

/// One version: every file of it, run through the front end.
pub struct Version {
    /// The compiled files, in a deterministic order.
    pub units: Vec<Unit>,
}

/// A protocol of a version with its projection.
struct Entry<'a> {
    file: usize,
    protocol: &'a Protocol,
    projection: &'a Projection,
}

impl Version {
    fn protocols(&self) -> Result<BTreeMap<&str, Entry<'_>>, String> {
        let mut out: BTreeMap<&str, Entry<'_>> = BTreeMap::new();
        for (file, unit) in self.units.iter().enumerate() {
            let Some(module) = &unit.module else { continue };
            for (i, projection) in &unit.projections {
                let protocol = &module.protocols[*i];
                if let Some(first) = out.get(protocol.name.as_str()) {
                    return Err(format!(
                        "protocol `{}` is declared in both {} and {}",
                        protocol.name,
                        self.units[first.file].file.name(),
                        unit.file.name()
                    ));
                }
                out.insert(
                    &protocol.name,
                    Entry {
                        file,
                        protocol,
                        projection,
                    },
                );
            }
        }
        Ok(out)
    }
}

/// Compares every protocol of `old` with its new version in `new`. The
/// findings come sorted (protocol, category, position). An error names a
/// protocol declared twice in one version.
pub fn compare(old: &Version, new: &Version) -> Result<Vec<Finding>, String> {
    let (olds, news) = (old.protocols()?, new.protocols()?);
    let mut out = Vec::new();
    for (name, o) in &olds {
        match news.get(name) {
            None => out.push(Finding {
                category: Category::Wire,
                protocol: name.to_string(),
                role: None,
                message: format!("protocol `{name}` is removed"),
                new: None,
                old: Some(site(o, o.protocol.span, "declared here in the old version")),
                help: Some(
                    "deployed roles of the old version have no counterpart to talk to".into(),
                ),
            }),
            Some(n) => compare_protocol(o, n, &mut out),
        }
    }
    out.sort_by(|a, b| {
        let pos = |f: &Finding| f.new.as_ref().or(f.old.as_ref()).map(|s| (s.file, s.span));
        (&a.protocol, a.category, pos(a), &a.message).cmp(&(
            &b.protocol,
            b.category,
            pos(b),
            &b.message,
        ))
    });
    out.dedup();
    Ok(out)
}

fn site(e: &Entry<'_>, span: Span, label: impl Into<String>) -> Site {
    Site {
        file: e.file,
        span,
        label: label.into(),
    }
}

fn finding(
    category: Category,
    o: &Entry<'_>,
    n: &Entry<'_>,
    role: Option<&str>,
    message: String,
    (new_span, old_span): (Span, Span),
    help: Option<String>,
) -> Finding {
    let label = match category {
        Category::Compatible => "changed here",
        _ => "the new version",
    };
    Finding {
        category,
        protocol: n.protocol.name.clone(),
        role: role.map(str::to_string),
        message,
        new: Some(site(n, new_span, label)),
        old: Some(site(o, old_span, "the old version")),
        help,
    }
}

fn compare_protocol(o: &Entry<'_>, n: &Entry<'_>, out: &mut Vec<Finding>) {
    let (op, np) = (o.protocol, n.protocol);
    let before = out.len();
    let (osites, nsites) = (Sites::new(op), Sites::new(np));
    let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
    for orole in &op.roles {
        let Some(nrole) = np.roles.iter().find(|r| r.name == orole.name) else {
            out.push(finding(
                Category::Wire,
                o,
                n,
                Some(&orole.name),
                format!("role `{}` is removed", orole.name),
                (np.span, orole.span),
                Some(
                    "deployed implementations of that role have no part in the new version".into(),
                ),
            ));
            continue;
        };
        let spans = (nrole.span, orole.span);
        let shape = match (&orole.family, &nrole.family) {
            (None, None) => None,
            (None, Some(_)) => Some("a single role in the old version and a family in the new"),
            (Some(_), None) => Some("a family in the old version and a single role in the new"),
            (Some(FamilySize::Fixed(a)), Some(FamilySize::Fixed(b))) if a != b => {
                Some("a family of another fixed size")
            }
            (Some(FamilySize::Fixed(_)), Some(b)) if !matches!(b, FamilySize::Fixed(_)) => {
                Some("a fixed-size family in the old version, sized at run time in the new")
            }
            (Some(a), Some(FamilySize::Fixed(_))) if !matches!(a, FamilySize::Fixed(_)) => {
                Some("a family sized at run time in the old version, of fixed size in the new")
            }
            (Some(a), Some(b)) => {
                if a != b {
                    out.push(finding(
                        Category::Compatible,
                        o,
                        n,
                        Some(&orole.name),
                        format!("the size of family `{}` is named differently", orole.name),
                        spans,
                        Some("both sizes are bound at run time, by the roster; the wire is unchanged".into()),
                    ));
                }
                None
            }
        };
        if let Some(shape) = shape {
            out.push(finding(
                Category::Wire,
                o,
                n,
                Some(&orole.name),
                format!("`{}` is {shape}", orole.name),
                spans,
                Some("the members that take part in a session change".into()),
            ));
            continue;
        }
        for (name, nl, ol) in targets(
            &orole.name,
            &o.projection.locals,
            &n.projection.locals,
            op,
            np,
        ) {
            let (om, nm) = (
                machine::build(&ol.body, &osites),
                machine::build(&nl.body, &nsites),
            );
            let result = subtype::check(&nm, &om, &name);
            pairs.extend(result.pairs);
            for m in result.mismatches {
                out.push(finding(
                    Category::Wire,
                    o,
                    n,
                    Some(&name),
                    m.message,
                    (m.new, m.old),
                    Some(format!(
                        "a new `{name}` cannot replace an old one among old peers; bump the protocol's version (docs/evolution.md)"
                    )),
                ));
            }
        }
    }
    for nrole in &np.roles {
        let active = n
            .projection
            .locals
            .iter()
            .any(|l| np.roles[l.target.role()].name == nrole.name && !l.body.is_empty());
        if active && !op.roles.iter().any(|r| r.name == nrole.name) {
            out.push(finding(
                Category::Wire,
                o,
                n,
                Some(&nrole.name),
                format!("role `{}` is added", nrole.name),
                (nrole.span, op.span),
                Some("old deployments have no implementation of it, so sessions with old peers cannot complete".into()),
            ));
        }
    }
    let wire = out[before..].iter().any(|f| f.category == Category::Wire);
    if !wire {
        api_changes(o, n, out);
    }
    for (new_id, old_id) in pairs {
        let (Some(nm), Some(om)) = (nsites.message(new_id), osites.message(old_id)) else {
            continue;
        };
        for c in compat::changes(nm, om) {
            out.push(finding(
                Category::Compatible,
                o,
                n,
                None,
                c.message,
                (nm.span, om.span),
                Some(c.help),
            ));
        }
    }
}

/// The local types of role `role` to compare: (name, new, old). A family
/// member singled out in either version is compared with its counterpart
/// (singled out, or among the other members) in the other.
fn targets<'a>(
    role: &str,
    old: &'a [LocalType],
    new: &'a [LocalType],
    op: &Protocol,
    np: &Protocol,
) -> Vec<(String, &'a LocalType, &'a LocalType)> {
    let of = |locals: &'a [LocalType], p: &Protocol| -> Vec<&'a LocalType> {
        locals
            .iter()
            .filter(|l| p.roles[l.target.role()].name == role)
            .collect()
    };
    let (ol, nl) = (of(old, op), of(new, np));
    let find = |ls: &[&'a LocalType], name: &str| ls.iter().copied().find(|l| l.name == name);
    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(ol.iter().map(|l| l.name.as_str()));
    names.extend(nl.iter().map(|l| l.name.as_str()));
    names
        .into_iter()
        .filter_map(|name| {
            let o = find(&ol, name).or_else(|| find(&ol, role))?;
            let n = find(&nl, name).or_else(|| find(&nl, role))?;
            Some((name.to_string(), n, o))
        })
        .collect()
}

fn api_changes(o: &Entry<'_>, n: &Entry<'_>, out: &mut Vec<Finding>) {
    let old = api::surface(o.protocol, o.projection);
    let new = api::surface(n.protocol, n.projection);
    let help = Some(
        "code that implements or calls the generated crate must change; the wire is compatible (allow with `--allow api`)".to_string(),
    );
    for (key, oi) in &old {
        match new.get(key) {
            None => out.push(finding(
                Category::Api,
                o,
                n,
                None,
                format!("the generated {} is removed", oi.what),
                (n.protocol.span, oi.span),
                help.clone(),
            )),
            Some(ni) if ni.shape != oi.shape => out.push(finding(
                Category::Api,
                o,
                n,
                None,
                format!(
                    "the generated {} changes from `{}` to `{}`",
                    ni.what, oi.shape, ni.shape
                ),
                (ni.span, oi.span),
                help.clone(),
            )),
            Some(_) => {}
        }
    }
    for (key, ni) in &new {
        // A new struct or enum alone breaks no code; the method that uses it does.
        let additive = key.starts_with("struct ") || key.starts_with("enum choice::");
        if !old.contains_key(key) && !additive {
            out.push(finding(
                Category::Api,
                o,
                n,
                None,
                format!("the generated {} is added", ni.what),
                (ni.span, o.protocol.span),
                help.clone(),
            ));
        }
    }
}
