//! The trace check of the audit's dynamic evidence, on real evidence: every
//! completed session recorded by the end-to-end tests (`CHOREO_EVIDENCE=dir
//! cargo test --release -p choreo-e2e`, one record per distinct peer and
//! trace, in `tests/evidence/e2e_completed.jsonl`) is a path of its
//! protocol, and traces edited to leave the protocol are not.
//!
//! When a protocol changes, record the file again:
//! `CHOREO_EVIDENCE=$PWD/target/e2e-evidence cargo test --release -p choreo-e2e`,
//! then `E2E_EVIDENCE=$PWD/target/e2e-evidence cargo test --release -p choreoc
//! --test audit_traces -- --ignored` rewrites it from that directory.

use choreoc::audit::evidence::Record;
use choreoc::audit::trace::accepts;
use choreoc::check::model::Protocol;
use choreoc::project::Projection;
use std::path::Path;

fn protocols() -> Vec<(Protocol, Projection)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dirs = [root.join("protocols"), root.join("tests/fixtures")];
    let mut out = Vec::new();
    for path in choreoc::driver::find_sources(&dirs).expect("sources") {
        let bytes = std::fs::read(&path).expect("read");
        let unit = choreoc::driver::compile(&path.display().to_string(), &bytes);
        let module = unit.module.expect("compiles");
        for (i, projection) in unit.projections {
            out.push((module.protocols[i].clone(), projection));
        }
    }
    out
}

fn records() -> Vec<Record> {
    include_str!("evidence/e2e_completed.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect()
}

#[test]
fn every_real_completed_trace_is_a_path_of_its_protocol() {
    let all = protocols();
    let records = records();
    assert!(records.len() > 200);
    let mut names = std::collections::BTreeSet::new();
    for r in &records {
        let (p, proj) = all
            .iter()
            .find(|(p, _)| p.name == r.protocol)
            .unwrap_or_else(|| panic!("protocol {}", r.protocol));
        accepts(p, proj, &r.peer, &r.trace)
            .unwrap_or_else(|e| panic!("{} {}: {e}\n{:?}", r.protocol, r.peer, r.trace));
        names.insert(r.protocol.clone());
    }
    // All 14 protocols and the fixture (decided loops, ranges, symbolic repeats).
    assert_eq!(names.len(), 15, "{names:?}");
}

#[test]
fn edited_traces_are_on_no_path() {
    let all = protocols();
    for r in records() {
        let (p, proj) = all
            .iter()
            .find(|(p, _)| p.name == r.protocol)
            .expect("protocol");
        // Each message turned round (a send as a receive, or back).
        for i in 0..r.trace.len() {
            let mut t = r.trace.clone();
            let flipped = match t[i].as_bytes()[0] {
                b'!' => format!("?{}", &t[i][1..]),
                _ => format!("!{}", &t[i][1..]),
            };
            t[i] = flipped;
            assert!(
                accepts(p, proj, &r.peer, &t).is_err(),
                "{} {}: {t:?}",
                r.protocol,
                r.peer
            );
        }
        // A label no protocol has.
        if let Some(first) = r.trace.first() {
            let mut t = r.trace.clone();
            t[0] = format!("{}X", first);
            assert!(accepts(p, proj, &r.peer, &t).is_err());
        }
        // Played as a peer that is not in the protocol.
        assert!(accepts(p, proj, "Nobody", &r.trace).is_err());
    }
}

#[test]
fn a_trace_that_stops_early_or_goes_on_is_rejected_with_where() {
    let all = protocols();
    let (p, proj) = all
        .iter()
        .find(|(p, _)| p.name == "GuardianCeremony")
        .expect("protocol");
    let guardian = [
        "?Initiator.ProposeRotation",
        "!Initiator.CeremonyResponse",
        "?Initiator.AbortCeremony",
    ];
    let t: Vec<String> = guardian.iter().map(|s| s.to_string()).collect();
    assert_eq!(accepts(p, proj, "Guardian[2]", &t), Ok(()));
    let err = accepts(p, proj, "Guardian[2]", &t[..2]).expect_err("stops early");
    assert!(err.contains("stops after 2 messages"), "{err}");
    let mut longer = t.clone();
    longer.push("!Initiator.ShareInstalled".into());
    let err = accepts(p, proj, "Guardian[2]", &longer).expect_err("goes on");
    assert!(
        err.contains("message 4 (`!Initiator.ShareInstalled`)"),
        "{err}"
    );
    // The Initiator's fan-out to three guardians, in any member order, then
    // their answers; a missing member is not a path.
    let initiator = |members: &[usize]| -> Vec<String> {
        let mut v: Vec<String> = members
            .iter()
            .map(|k| format!("!Guardian[{k}].ProposeRotation"))
            .collect();
        v.extend(
            members
                .iter()
                .map(|k| format!("?Guardian[{k}].CeremonyResponse")),
        );
        v.extend(
            members
                .iter()
                .map(|k| format!("!Guardian[{k}].AbortCeremony")),
        );
        v
    };
    assert_eq!(
        accepts(p, proj, "Initiator", &initiator(&[0, 1, 2])),
        Ok(())
    );
    assert_eq!(
        accepts(p, proj, "Initiator", &initiator(&[2, 0, 1])),
        Ok(())
    );
    let mut gap = initiator(&[0, 1, 2]);
    gap.remove(4);
    assert!(accepts(p, proj, "Initiator", &gap).is_err());
}

#[test]
#[ignore = "rewrites tests/evidence/e2e_completed.jsonl from $E2E_EVIDENCE"]
fn record_the_e2e_evidence_again() {
    let dir = std::env::var_os("E2E_EVIDENCE").expect("E2E_EVIDENCE names a directory");
    let mut all = choreoc::audit::evidence::read(Path::new(&dir)).expect("evidence");
    all.retain(|r| r.completed());
    all.sort_by(|a, b| (&a.protocol, &a.peer, &a.trace).cmp(&(&b.protocol, &b.peer, &b.trace)));
    all.dedup_by(|a, b| (&a.protocol, &a.peer, &a.trace) == (&b.protocol, &b.peer, &b.trace));
    let text: String = all
        .iter()
        .map(|r| {
            serde_json::json!({
                "protocol": r.protocol,
                "digest": r.digest,
                "peer": r.peer,
                "outcome": r.outcome,
                "entry": r.entry,
                "test": r.test,
                "trace": r.trace,
            })
            .to_string()
                + "\n"
        })
        .collect();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/evidence/e2e_completed.jsonl");
    std::fs::write(out, text).expect("write");
}
