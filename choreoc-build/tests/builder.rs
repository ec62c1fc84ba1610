//! The builder as a build script uses it: inputs found, Cargo directives
//! printed, diagnostics with file:line:column, and the build failing (with
//! nothing written) on errors.

use choreoc_build::{configure, Error};
use std::path::{Path, PathBuf};

const GOOD: &str = "protocol Ping =\n  roles A, B\n  A -> B : Ping\n";
const PAIR: &str = "protocol First =\n  roles A, B\n  A -> B : M\n\nprotocol SecondOne =\n  roles A, B\n  B -> A : N\n";
const UNUSED: &str = "protocol Idle =\n  roles A, B, Spare\n  A -> B : M\n";
const BAD: &str = "protocol Bad =\n  roles A, B\n  A -> B : Hi\n  A -> C : Ping\n";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("choreoc-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(&path, text).expect("write");
    path
}

/// Runs the builder on `inputs`, writing into `dir/out`; returns the result
/// and what it printed for Cargo.
fn run(dir: &Path, inputs: &[PathBuf]) -> (Result<Vec<choreoc_build::Generated>, Error>, String) {
    let mut cargo = Vec::new();
    let result = configure()
        .out_dir(dir.join("out"))
        .compile_to(inputs, &mut cargo);
    (result, String::from_utf8(cargo).expect("UTF-8"))
}

#[test]
fn one_file_per_protocol_rewritten_only_when_it_changes() {
    let dir = temp_dir("files");
    let protocols = dir.join("protocols");
    write(&protocols, "a/ping.choreo", GOOD);
    write(&protocols, "b/pair.choreo", PAIR);
    let (first, _) = run(&dir, std::slice::from_ref(&protocols));
    let first = first.expect("compiles");
    let names: Vec<&str> = first.iter().map(|g| g.protocol.as_str()).collect();
    assert_eq!(
        names,
        ["Ping", "First", "SecondOne"],
        "sorted by path, then file order"
    );
    let files: Vec<String> = first
        .iter()
        .map(|g| g.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["ping.rs", "first.rs", "second_one.rs"]);
    assert!(first.iter().all(|g| g.written && g.path.is_file()));
    let (again, _) = run(&dir, std::slice::from_ref(&protocols));
    assert!(
        again.expect("compiles").iter().all(|g| !g.written),
        "unchanged files are not rewritten"
    );
}

#[test]
fn every_input_and_file_is_watched() {
    let dir = temp_dir("rerun");
    let protocols = dir.join("protocols");
    let ping = write(&protocols, "ping.choreo", GOOD);
    let extra = write(&dir, "extra.choreo", PAIR);
    let (result, cargo) = run(&dir, &[protocols.clone(), extra.clone()]);
    result.expect("compiles");
    let lines: Vec<&str> = cargo.lines().collect();
    assert_eq!(
        lines,
        [
            format!("cargo:rerun-if-changed={}", protocols.display()),
            format!("cargo:rerun-if-changed={}", extra.display()),
            format!("cargo:rerun-if-changed={}", ping.display()),
            format!("cargo:rerun-if-changed={}", extra.display()),
        ]
    );
    let mut quiet = Vec::new();
    configure()
        .out_dir(dir.join("out"))
        .emit_rerun_if_changed(false)
        .compile_to(&[extra], &mut quiet)
        .expect("compiles");
    assert!(quiet.is_empty());
}

#[test]
fn warnings_become_cargo_warnings_with_their_position() {
    let dir = temp_dir("warn");
    let idle = write(&dir, "idle.choreo", UNUSED);
    let (result, cargo) = run(&dir, std::slice::from_ref(&idle));
    result.expect("warnings do not fail the build");
    assert!(
        cargo.contains(&format!(
            "cargo:warning={}:2:15: warning[W0901]: role `Spare` is declared but takes part in no statement",
            idle.display()
        )),
        "{cargo}"
    );
}

#[test]
fn errors_fail_the_build_with_every_diagnostic_and_write_nothing() {
    let dir = temp_dir("error");
    let good = write(&dir, "good.choreo", GOOD);
    let bad = write(&dir, "bad.choreo", BAD);
    let (result, _) = run(&dir, &[good, bad.clone()]);
    let err = result.expect_err("an error fails the build");
    let text = format!("{err:?}");
    assert!(
        text.starts_with(&format!(
            "{}:4:8: error[E0101]: role `C` is not declared\n",
            bad.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("help: declare it on the protocol's `roles` line"),
        "{text}"
    );
    assert!(
        text.ends_with("choreoc-build: 1 error in the protocols"),
        "{text}"
    );
    assert!(
        !dir.join("out").exists(),
        "nothing written when any protocol fails"
    );
}

#[test]
fn bad_inputs_are_reported() {
    let dir = temp_dir("inputs");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let (result, _) = run(&dir, std::slice::from_ref(&empty));
    assert!(matches!(result, Err(Error::Usage(m)) if m.contains("no .choreo file")));
    let (result, _) = run(&dir, &[dir.join("missing.choreo")]);
    assert!(matches!(result, Err(Error::Io(..))));
    let (result, _) = run(&dir, &[]);
    assert!(matches!(result, Err(Error::Usage(_))));
    let a = write(&dir, "a.choreo", GOOD);
    let b = write(&dir, "b.choreo", GOOD);
    let (result, _) = run(&dir, &[a, b]);
    assert!(
        matches!(&result, Err(Error::Usage(m)) if m.contains("would both be written")),
        "{result:?}"
    );
}

#[test]
fn the_module_can_be_included_and_holds_scripted_only_when_asked() {
    let dir = temp_dir("module");
    let ping = write(&dir, "ping.choreo", GOOD);
    let (result, _) = run(&dir, std::slice::from_ref(&ping));
    let generated = result.expect("compiles");
    let text = std::fs::read_to_string(&generated[0].path).expect("written");
    assert!(
        text.starts_with("// @generated by choreoc-build from "),
        "{text}"
    );
    assert!(text.contains("\npub mod ping {\n"), "{text}");
    // `include!` accepts no inner attribute or doc, and the including crate
    // has no `scripted` feature.
    for refused in ["#![", "//!", "cfg(feature"] {
        assert!(
            !text.contains(refused),
            "`{refused}` in the module:\n{text}"
        );
    }
    assert!(!text.contains("pub mod scripted"), "{text}");
    let mut cargo = Vec::new();
    let scripted = configure()
        .out_dir(dir.join("scripted"))
        .scripted(true)
        .compile_to(std::slice::from_ref(&ping), &mut cargo)
        .expect("compiles");
    let text = std::fs::read_to_string(&scripted[0].path).expect("written");
    assert!(text.contains("pub mod scripted {"), "{text}");
    assert!(!text.contains("cfg(feature"), "{text}");
}
