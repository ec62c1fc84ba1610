//! `choreoc audit`: manifest errors at their location, status computed from
//! call sites (drift flips a protocol to Spec-only with the reason), and
//! `--check` on a stale document.

use choreoc::audit::{audit, Status, MANIFEST, OUTPUT};
use choreoc::diag::Code;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary copy of the workspace's protocols/ and services/.
fn copy() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "choreoc-audit-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["protocols", "services"] {
        let from = workspace().join(sub);
        for entry in walkdir::WalkDir::new(&from)
            .into_iter()
            .filter_map(Result::ok)
        {
            let rel = entry.path().strip_prefix(&from).expect("inside");
            let to = dir.join(sub).join(rel);
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&to).expect("dir");
            } else if !rel.starts_with("target") {
                std::fs::copy(entry.path(), &to).expect("copy");
            }
        }
    }
    dir
}

fn manifest_error(edit: impl Fn(String) -> String) -> (Code, usize, usize, String) {
    let dir = copy();
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(&path, edit(text)).expect("write");
    let failure = audit(&dir).expect_err("the manifest is wrong");
    let d = &failure.diagnostics[0];
    let at = failure.file.line_col(d.primary.span.start);
    (d.code, at.line, at.column, d.message.clone())
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("present")
        + 1
}

#[test]
fn the_workspace_audit_reports_all_14_protocols_wired() {
    let (rows, text) = audit(&workspace()).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    assert_eq!(rows.len(), 14);
    let spec_only: Vec<_> = rows
        .iter()
        .filter(|r| r.status != Status::Wired)
        .map(|r| (&r.name, &r.status))
        .collect();
    assert!(spec_only.is_empty(), "{spec_only:?}");
    assert!(text.contains("| Wired | 14 |"), "{text}");
    assert!(text.contains("| Spec-only | 0 | — |"));
}

#[test]
fn removing_a_call_site_flips_the_protocol_to_spec_only_with_the_reason() {
    let dir = copy();
    let (rows, _) = audit(&dir).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let ceremony = rows
        .iter()
        .find(|r| r.name == "GuardianCeremony")
        .expect("row");
    assert_eq!(ceremony.status, Status::Wired);
    // Remove every call site of the Guardian role from the sources.
    for site in &ceremony.sites["Guardian"] {
        let path = dir.join(&site.file);
        let text = std::fs::read_to_string(&path).expect("source");
        let edited = text.replace(
            "choreo_guardian_ceremony::As::Guardian(",
            "choreo_guardian_ceremony::As::Guardian /* removed */(",
        );
        std::fs::write(&path, edited).expect("write");
    }
    let (rows, text) = audit(&dir).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let ceremony = rows
        .iter()
        .find(|r| r.name == "GuardianCeremony")
        .expect("row");
    assert_eq!(
        ceremony.status,
        Status::SpecOnly(vec!["role Guardian: no call site".into()])
    );
    assert!(
        text.contains("| Spec-only | 1 | GuardianCeremony |"),
        "{text}"
    );
    assert!(text.contains("role Guardian: no call site"));
}

#[test]
fn a_missing_entry_point_is_spec_only() {
    let dir = copy();
    let text = std::fs::read_to_string(dir.join(MANIFEST)).expect("manifest");
    let edited = text.replace("services/src/sync/epochs.rs", "services/src/sync/gone.rs");
    std::fs::write(dir.join(MANIFEST), edited).expect("write");
    let (rows, _) = audit(&dir).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let row = rows
        .iter()
        .find(|r| r.name == "EpochRotationProtocol")
        .expect("row");
    assert_eq!(
        row.status,
        Status::SpecOnly(vec![
            "entry point `services/src/sync/gone.rs` does not exist".into()
        ])
    );
}

#[test]
fn e1001_unknown_key_and_bad_value_have_their_location() {
    let (code, line, _, msg) = manifest_error(|t| {
        t.replacen(
            "    ticket: CHOREO-CONS-001",
            "    tickt: CHOREO-CONS-001",
            1,
        )
    });
    assert_eq!(code, Code::ManifestInvalid);
    let text = std::fs::read_to_string(workspace().join(MANIFEST)).expect("manifest");
    assert_eq!(line, line_of(&text, "ticket: CHOREO-CONS-001"), "{msg}");
    let (code, line, _, msg) =
        manifest_error(|t| t.replacen("    priority: High", "    priority: Urgent", 1));
    assert_eq!(code, Code::ManifestInvalid);
    assert_eq!(line, line_of(&text, "priority: High"), "{msg}");
}

#[test]
fn e1002_a_protocol_without_an_entry() {
    let (code, _, _, msg) = manifest_error(|t| {
        let start = t.find("  - protocol: AmpTransport").expect("entry");
        let end = t[start..].find("\n\n").map_or(t.len(), |n| start + n + 1);
        format!("{}{}", &t[..start], &t[end..])
    });
    assert_eq!(code, Code::ManifestMissing);
    assert!(msg.contains("AmpTransport"), "{msg}");
}

#[test]
fn e1003_an_entry_naming_no_protocol() {
    let text = std::fs::read_to_string(workspace().join(MANIFEST)).expect("manifest");
    let (code, line, column, msg) = manifest_error(|t| {
        t.replace("protocol: AuraConsensus", "protocol: AuraConsensusX").replace("\n  - protocol: AmpTransport", "\n  - protocol: AuraConsensus\n    category: Consensus\n    ticket: X\n    owner: x\n    entry_point: x\n    guard_chain: x\n    dependencies: x\n    provide_message: x\n\n  - protocol: AmpTransport")
    });
    assert_eq!(code, Code::ManifestOrphan, "{msg}");
    assert_eq!(
        (line, column),
        (line_of(&text, "protocol: AuraConsensus"), 15)
    );
}

#[test]
fn e1004_a_protocol_described_twice() {
    let (code, _, _, msg) = manifest_error(|t| {
        t + "\n  - protocol: AmpTransport\n    category: X\n    ticket: X\n    owner: x\n    entry_point: x\n    guard_chain: x\n    dependencies: x\n    provide_message: x\n"
    });
    assert_eq!(code, Code::ManifestDuplicate, "{msg}");
}

#[test]
fn every_manifest_code_has_a_test_here() {
    let here = include_str!("audit.rs");
    for code in Code::ALL.iter().filter(|c| c.as_str().starts_with("E10")) {
        assert!(
            here.contains(&format!("fn {}_", code.as_str().to_ascii_lowercase())),
            "{}",
            code.as_str()
        );
    }
}

#[test]
fn check_reports_a_stale_audit_document() {
    let dir = copy();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_choreoc"))
            .args(args)
            .output()
            .expect("runs")
    };
    let root = dir.display().to_string();
    assert_eq!(run(&["audit", "--root", &root]).status.code(), Some(0));
    assert_eq!(
        run(&["audit", "--root", &root, "--check"]).status.code(),
        Some(0)
    );
    std::fs::write(dir.join(OUTPUT), "edited by hand\n").expect("edit");
    let out = run(&["audit", "--root", &root, "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("choreography_runtime_audit.md (stale)"));
}
