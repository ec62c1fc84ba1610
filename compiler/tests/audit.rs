//! `choreoc audit` on the project's own protocols and services: manifest
//! and evidence errors at their location, every role of the 14 protocols
//! has a counted call site in `services/`, nothing is Wired without
//! evidence, and `--check` on a stale document. (How status is computed,
//! case by case, is tested on small workspaces in tests/audit_evidence.rs.)

use choreoc::audit::{audit, Failure, Status, MANIFEST, OUTPUT};
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
    let failure = audit(&dir, None).expect_err("the manifest is wrong");
    let Failure::Invalid { file, diagnostics } = *failure else {
        panic!("a diagnostic");
    };
    let d = &diagnostics[0];
    let at = file.line_col(d.primary.span.start);
    (d.code, at.line, at.column, d.message.clone())
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("present")
        + 1
}

#[test]
fn without_evidence_all_14_protocols_are_spec_only() {
    let (rows, text) = audit(&workspace(), None).unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(rows.len(), 14);
    for r in &rows {
        let Status::SpecOnly(reasons) = &r.status else {
            panic!("{} is Wired without evidence", r.name);
        };
        assert!(reasons.contains(&"no evidence".to_string()), "{reasons:?}");
    }
    assert!(text.contains("| Wired | 0 | — |"), "{text}");
}

#[test]
fn every_role_of_the_14_protocols_has_a_counted_call_site_in_services() {
    // The services as a member of a workspace with the generated crates.
    let dir = copy();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"services\", \"generated/crates/*\"]\n",
    )
    .expect("write");
    for entry in std::fs::read_dir(workspace().join("generated/crates")).expect("crates") {
        let from = entry.expect("entry").path();
        let to = dir
            .join("generated/crates")
            .join(from.file_name().expect("name"));
        std::fs::create_dir_all(&to).expect("dir");
        std::fs::copy(from.join("Cargo.toml"), to.join("Cargo.toml")).expect("copy");
    }
    let (rows, _) = audit(&dir, None).unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(rows.len(), 14);
    for row in &rows {
        for role in &row.roles {
            assert!(
                !role.sites.is_empty(),
                "{} {}: {:?}",
                row.name,
                role.role,
                role.ignored
            );
            for site in &role.sites {
                assert!(site.file.starts_with("services/src/"), "{site:?}");
                assert!(site.function.starts_with("choreo_services::"), "{site:?}");
            }
        }
        // Only the evidence is missing.
        assert_eq!(
            row.status,
            Status::SpecOnly(vec!["no evidence".into()]),
            "{}",
            row.name
        );
    }
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
fn e1005_an_evidence_line_that_is_not_a_record() {
    let dir = copy();
    let evidence = dir.join("target/evidence");
    std::fs::create_dir_all(&evidence).expect("dir");
    let good = r#"{"protocol":"AmpTransport","digest":"00","peer":"Sender","outcome":"completed","entry":"x.rs:1:1","test":null,"trace":[]}"#;
    std::fs::write(
        evidence.join("evidence-1.jsonl"),
        format!("{good}\n{{\"protocol\": \"AmpTransport\", \"digest\": 7}}\n"),
    )
    .expect("write");
    let failure = audit(&dir, Some(&evidence)).expect_err("bad evidence");
    let Failure::Invalid { file, diagnostics } = *failure else {
        panic!("a diagnostic");
    };
    assert_eq!(diagnostics[0].code, Code::EvidenceInvalid);
    assert_eq!(file.line_col(diagnostics[0].primary.span.start).line, 2);
    assert_eq!(file.name(), "evidence-1.jsonl");
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
    // With an empty evidence directory the document is the same but for
    // saying evidence was read: stale.
    let empty = dir.join("target/empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let ev = empty.display().to_string();
    let out = run(&["audit", "--root", &root, "--evidence", &ev, "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["audit", "--root", &root, "--evidence", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(dir.join(OUTPUT), "edited by hand\n").expect("edit");
    let out = run(&["audit", "--root", &root, "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("choreography_runtime_audit.md (stale)"));
}
