//! `choreoc simulate`: every role of a protocol run together over in-memory
//! channels, every combination of choices explored.

use choreoc::driver::{compile, Unit};
use choreoc::simulate::{simulate, Config, Outcome, Report};
use std::path::Path;

fn unit(src: &str) -> Unit {
    let unit = compile("sim.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics);
    unit
}

fn run(unit: &Unit, config: &Config) -> Report {
    let module = unit.module.as_ref().expect("module");
    let (i, proj) = &unit.projections[0];
    simulate(&module.protocols[*i], proj, config)
}

#[test]
fn every_project_protocol_runs_to_the_end_with_families_of_1_3_and_5() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    let files = choreoc::driver::find_sources(&[root]).expect("protocols/");
    assert_eq!(files.len(), 14);
    for size in [1, 3, 5] {
        for file in &files {
            let unit = choreoc::driver::compile_path(file).expect("readable");
            let module = unit.module.as_ref().expect("module");
            for (i, proj) in &unit.projections {
                let config = Config {
                    default_family_size: size,
                    ..Config::default()
                };
                let report = simulate(&module.protocols[*i], proj, &config);
                assert!(report.ok(), "{}:\n{report}", file.display());
                assert!(
                    report.paths.iter().all(|p| p.outcome == Outcome::Finished),
                    "{report}"
                );
            }
        }
    }
}

#[test]
fn choices_and_decided_loops_are_explored_up_to_the_round_bound() {
    let u = unit(
        "protocol P =\n  roles C, W\n  loop decide by C\n    C -> W : Work\n    W -> C : Result\n  case choose C of\n    Yes -> C -> W : Y\n    No -> C -> W : N\n",
    );
    let report = run(
        &u,
        &Config {
            max_rounds: 2,
            ..Config::default()
        },
    );
    // 0, 1 or 2 rounds, then Yes or No.
    assert_eq!(report.paths.len(), 6, "{report}");
    assert!(report.ok());
    let messages: Vec<usize> = report.paths.iter().map(|p| p.messages).collect();
    // Done (1) + choice (1), plus two messages per round (fused: no Continue).
    assert_eq!(messages, [6, 6, 4, 4, 2, 2], "{report}");
    assert_eq!(
        report.paths[0].decisions,
        ["C: Continue", "C: Continue", "C: Done", "C: No"]
    );
}

#[test]
fn a_family_chooser_multiplies_the_paths() {
    let u = unit(
        "protocol P =\n  roles C, Ps[*]\n  C -> Ps[*] : Invite\n  case choose Ps[*] of\n    accept -> Ps[*] -> C : Yes\n    reject -> Ps[*] -> C : No\n",
    );
    let mut config = Config::default();
    config.families.insert("Ps".into(), 4);
    let report = run(&u, &config);
    assert_eq!(report.paths.len(), 16);
    assert!(report
        .paths
        .iter()
        .all(|p| p.outcome == Outcome::Finished && p.messages == 8));
}

#[test]
fn loop_forever_is_cut_at_the_bound() {
    let u = unit("protocol P =\n  roles A, B\n  loop forever\n    A -> B : Tick\n");
    let report = run(
        &u,
        &Config {
            max_rounds: 3,
            ..Config::default()
        },
    );
    assert_eq!(report.paths.len(), 1);
    assert_eq!(report.paths[0].outcome, Outcome::Bounded);
    assert!(report.ok());
}

#[test]
fn a_role_waiting_forever_is_reported_stuck_with_what_it_waits_on() {
    // Corrupt one role's local type (the compiler never produces this) to
    // check that the simulator finds the deadlock: B now expects Second first.
    let mut u =
        unit("protocol P =\n  roles A, B\n  A -> B : First\n  B -> A : Reply\n  A -> B : Second\n");
    let (_, proj) = &mut u.projections[0];
    proj.locals[1].body.swap(0, 2);
    let report = run(&u, &Config::default());
    assert!(!report.ok());
    match &report.paths[0].outcome {
        Outcome::Error(e) => assert!(
            e.contains("B received First from A but expected Second"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    // And a true deadlock: both wait for each other.
    let mut u = unit("protocol P =\n  roles A, B\n  A -> B : Ping\n  B -> A : Pong\n");
    let (_, proj) = &mut u.projections[0];
    proj.locals[0].body.swap(0, 1);
    let report = run(&u, &Config::default());
    assert_eq!(
        report.paths[0].outcome,
        Outcome::Stuck(vec![
            "A waits for Pong from B".into(),
            "B waits for Ping from A".into()
        ])
    );
}

#[test]
fn a_member_index_beyond_the_family_size_is_an_error_on_the_path() {
    let u = unit("protocol P =\n  roles C, W[N]\n  C -> W[4] : Hi\n  C -> W[*] : All\n");
    let report = run(&u, &Config::default());
    match &report.paths[0].outcome {
        Outcome::Error(e) => assert!(e.contains("`W[4]` does not exist"), "{e}"),
        other => panic!("{other:?}"),
    }
    let mut config = Config::default();
    config.families.insert("W".into(), 5);
    assert!(run(&u, &config).ok());
}

#[test]
fn max_paths_stops_the_exploration() {
    let u = unit(
        "protocol P =\n  roles A, B\n  loop repeat 8\n    case choose A of\n      X -> A -> B : X\n      Y -> A -> B : Y\n",
    );
    let report = run(
        &u,
        &Config {
            max_paths: 10,
            ..Config::default()
        },
    );
    assert_eq!(report.paths.len(), 10);
    assert!(report.truncated);
}

#[test]
fn the_cli_exits_zero_on_every_project_protocol() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    for file in choreoc::driver::find_sources(&[root]).expect("protocols/") {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_choreoc"))
            .args([
                "simulate",
                &file.display().to_string(),
                "--family",
                "Guardian=2",
            ])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let has_guardians = stdout.contains("Guardian[");
        let status = out.status.code();
        if has_guardians {
            assert!(
                stdout.contains("Guardian[1]") && !stdout.contains("Guardian[2]"),
                "{stdout}"
            );
            assert_eq!(status, Some(0), "{stdout}");
        } else {
            // `--family Guardian` names no family here: a usage error.
            assert_eq!(status, Some(2), "{}: {stdout}", file.display());
        }
    }
}
