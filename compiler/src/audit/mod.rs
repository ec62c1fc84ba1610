//! The audit and wiring tables (`choreoc audit`): per protocol, whether it is
//! really run by the code (Wired) or only specified (Spec-only), with the
//! inventory, priorities, wiring plan, decision sources, call sites and
//! evidence, and an annotation summary. Status is computed from two kinds of
//! evidence (see [`wiring`]): call sites found by reading the code
//! ([`code`]) and sessions the runtime recorded while the entry points'
//! tests ran ([`evidence`], checked against the protocol by [`trace`]).
//! What cannot be derived comes from the manifest `protocols/manifest.yaml`.

pub mod code;
mod document;
pub mod evidence;
pub mod manifest;
pub mod trace;
pub mod wiring;

use crate::check::model::Protocol;
use crate::diag::{Diagnostic, SourceFile};
use crate::emit::rust::{crate_dir, digest_hex, package_name};
use crate::project::Projection;
use std::path::Path;

pub use document::normalized;

/// Where the manifest is, relative to the workspace root.
pub const MANIFEST: &str = "protocols/manifest.yaml";
/// Where the audit is written, relative to the workspace root.
pub const OUTPUT: &str = "generated/docs/choreography_runtime_audit.md";
/// Where the generated crates of `protocols/` are, relative to the root.
pub const CRATES: &str = "generated/crates";

/// Whether a protocol is run by the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Both kinds of evidence are there for every role (see [`wiring`]).
    Wired,
    /// Not (yet) run; the reasons say which evidence is missing.
    SpecOnly(Vec<String>),
}

/// The audit of one protocol.
#[derive(Clone, Debug)]
pub struct Row {
    /// The protocol.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// Call sites and sessions per role, in declaration order.
    pub roles: Vec<wiring::RoleEvidence>,
}

/// Why the audit could not be made.
#[derive(Debug)]
pub enum Failure {
    /// Problems in an input file (a protocol, the manifest, an evidence file).
    Invalid {
        /// The file the diagnostics point into.
        file: SourceFile,
        /// What is wrong.
        diagnostics: Vec<Diagnostic>,
    },
    /// A file that cannot be read.
    Io(String),
}

struct Unit {
    protocol: Protocol,
    projection: Projection,
    location: String,
}

/// Audits the workspace at `root`, with the evidence recorded in
/// `evidence` (a `CHOREO_EVIDENCE` directory), if any: the rows and the
/// rendered document. Without evidence every protocol is Spec-only.
pub fn audit(root: &Path, evidence: Option<&Path>) -> Result<(Vec<Row>, String), Box<Failure>> {
    let units = units(root)?;
    let text = std::fs::read_to_string(root.join(MANIFEST)).unwrap_or_default();
    let file = SourceFile::new(MANIFEST, text);
    let manifest = manifest::parse(&file).map_err(|d| {
        Box::new(Failure::Invalid {
            file: file.clone(),
            diagnostics: vec![d],
        })
    })?;
    let names: Vec<String> = units.iter().map(|u| u.protocol.name.clone()).collect();
    let diagnostics = manifest::check(&manifest, &file, &names);
    if !diagnostics.is_empty() {
        return Err(Box::new(Failure::Invalid { file, diagnostics }));
    }
    let records = match evidence {
        None => None,
        Some(dir) => Some(evidence::read(dir).map_err(|e| {
            Box::new(match e {
                evidence::ReadError::Io(e) => Failure::Io(e),
                evidence::ReadError::Invalid(b) => {
                    let (file, d) = *b;
                    Failure::Invalid {
                        file,
                        diagnostics: vec![d],
                    }
                }
            })
        })?),
    };
    // The generated crates that exist, for the static analysis.
    let generated: Vec<(String, Result<(), String>)> = units
        .iter()
        .map(|u| {
            let package = package_name(&u.protocol.name);
            let dir = format!("{CRATES}/{}", crate_dir(&u.protocol.name));
            let found = std::fs::read_to_string(root.join(&dir).join("Cargo.toml"))
                .is_ok_and(|t| t.contains(&format!("name = \"{package}\"")));
            let why = format!("no generated crate: `{dir}` holds no package `{package}`");
            (dir, if found { Ok(()) } else { Err(why) })
        })
        .collect();
    let crates: Vec<code::Generated> = units
        .iter()
        .zip(&generated)
        .filter(|(_, (_, found))| found.is_ok())
        .map(|(u, (dir, _))| code::Generated {
            package: package_name(&u.protocol.name),
            dir: root.join(dir),
        })
        .collect();
    let analysis = code::analyse(root, &crates).map_err(|e| Box::new(Failure::Io(e)))?;
    let mut rows = Vec::new();
    let mut pages = Vec::new();
    for (u, (_, found)) in units.iter().zip(&generated) {
        let entry = manifest
            .protocols
            .iter()
            .map(|e| &e.value)
            .find(|e| e.protocol.value == u.protocol.name)
            .expect("checked: every protocol has an entry");
        let package = package_name(&u.protocol.name);
        let digest = digest_hex(&u.protocol, &u.projection);
        let inputs = wiring::Inputs {
            protocol: &u.protocol,
            projection: &u.projection,
            digest: &digest,
            generated: found.clone(),
            sites: analysis
                .sites
                .iter()
                .filter(|s| s.package == package)
                .collect(),
            records: records.as_ref().map(|all| {
                all.iter()
                    .filter(|r| r.protocol == u.protocol.name)
                    .collect()
            }),
            entry_point: &entry.entry_point,
            root,
            packages: &analysis.packages,
        };
        let (roles, reasons) = wiring::evaluate(&inputs);
        let status = if reasons.is_empty() {
            Status::Wired
        } else {
            Status::SpecOnly(reasons)
        };
        pages.push(document::page(
            &u.protocol,
            &u.projection,
            &u.location,
            entry,
            &status,
            &roles,
            records.is_some(),
        ));
        rows.push(Row {
            name: u.protocol.name.clone(),
            status,
            roles,
        });
    }
    let doc = document::render(&manifest, pages, &analysis.unparsed, records.is_some());
    Ok((rows, doc))
}

/// Every protocol of `protocols/` with its projection.
fn units(root: &Path) -> Result<Vec<Unit>, Box<Failure>> {
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
            return Err(Box::new(Failure::Invalid {
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
    Ok(units)
}
