//! The `choreoc` binary as a user runs it: exit codes, output formats and
//! the selection flags of `project`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn choreoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_choreoc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("choreoc-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("parent dir");
    }
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

const GOOD: &str = "protocol P =\n  roles A, B\n  A -> B : Ping\n  B -> A : Pong\n";
const BAD: &str = "protocol P =\n  roles A, B\n  A -> B : Hi\n  A -> C : Ping\n";
const TWO: &str = "protocol First =\n  roles A, B\n  A -> B : M\n\nprotocol Second =\n  roles X, Ys[N]\n  X -> Ys[0] : N\n  X -> Ys[*] : All\n";

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_exit_codes() {
    let dir = temp_dir("exit");
    let good = write(&dir, "good.choreo", GOOD);
    let bad = write(&dir, "bad.choreo", BAD);
    assert_eq!(choreoc(&["check", &good]).status.code(), Some(0));
    let out = choreoc(&["check", &good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E0101"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("checked 2 files: 1 error, 0 warnings"),
        "{}",
        stderr(&out)
    );
    let missing = dir.join("missing.choreo").display().to_string();
    assert_eq!(choreoc(&["check", &missing]).status.code(), Some(2));
    assert_eq!(
        choreoc(&["check"]).status.code(),
        Some(2),
        "no path is a usage error"
    );
    assert_eq!(choreoc(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn warnings_alone_exit_zero() {
    let dir = temp_dir("warn");
    let f = write(
        &dir,
        "w.choreo",
        "protocol P =\n  roles A, B, Idle\n  A -> B : M\n",
    );
    let out = choreoc(&["check", &f]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("W0901"));
}

#[test]
fn directories_are_searched_recursively_in_sorted_order() {
    let dir = temp_dir("walk");
    write(&dir, "b/second.choreo", BAD);
    write(&dir, "a/first.choreo", BAD);
    write(&dir, "a/notes.txt", "not a protocol");
    let out = choreoc(&[
        "check",
        "--error-format",
        "json",
        &dir.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let files: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line"))
        .map(|v| v["file"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(files.len(), 2);
    assert!(
        files[0].ends_with("a/first.choreo") && files[1].ends_with("b/second.choreo"),
        "{files:?}"
    );
}

#[test]
fn json_diagnostics_have_code_severity_message_file_line_column() {
    let dir = temp_dir("json");
    let bad = write(&dir, "bad.choreo", BAD);
    let out = choreoc(&["check", "--error-format=json", &bad]);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(v["code"], "E0101");
    assert_eq!(v["severity"], "error");
    assert_eq!(v["file"], bad.as_str());
    assert_eq!(
        (v["line"].as_u64(), v["column"].as_u64()),
        (Some(4), Some(8))
    );
    assert!(v["message"].as_str().unwrap_or_default().contains("`C`"));
    assert!(
        stderr(&out).is_empty(),
        "json mode keeps stderr clean: {}",
        stderr(&out)
    );
}

#[test]
fn project_prints_headers_for_several_protocols() {
    let dir = temp_dir("project");
    let f = write(&dir, "two.choreo", TWO);
    let out = choreoc(&["project", &f]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "# First\nA: !B.M; end\nB: ?A.M; end\n# Second\nX: !Ys[0].N; !Ys[*].All; end\nYs[0]: ?X.N; ?X.All; end\nYs: ?X.All; end\n"
    );
}

#[test]
fn project_selects_protocol_and_role() {
    let dir = temp_dir("select");
    let f = write(&dir, "two.choreo", TWO);
    let out = choreoc(&["project", &f, "--protocol", "Second", "--role", "Ys"]);
    assert_eq!(stdout(&out), "Ys[0]: ?X.N; ?X.All; end\nYs: ?X.All; end\n");
    let out = choreoc(&["project", &f, "--protocol", "Second", "--role", "Ys[0]"]);
    assert_eq!(stdout(&out), "Ys[0]: ?X.N; ?X.All; end\n");
    let out = choreoc(&["project", &f, "--protocol", "Third"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("First, Second"), "{}", stderr(&out));
    let out = choreoc(&["project", &f, "--protocol", "First", "--role", "Nobody"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn project_of_a_bad_file_reports_and_exits_one() {
    let dir = temp_dir("projbad");
    let bad = write(&dir, "bad.choreo", BAD);
    let out = choreoc(&["project", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("E0101"));
}

#[test]
fn every_project_protocol_checks_and_projects() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    let out = choreoc(&["check", &root.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("checked 14 files: 0 errors, 0 warnings"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_knows_every_code() {
    let out = choreoc(&["explain"]);
    assert_eq!(out.status.code(), Some(0));
    for code in choreoc::diag::Code::ALL {
        assert!(stdout(&out).contains(code.as_str()));
    }
    assert_eq!(choreoc(&["explain", "E0501"]).status.code(), Some(0));
    assert_eq!(choreoc(&["explain", "E9999"]).status.code(), Some(2));
}

#[test]
fn build_writes_crates_once_and_check_finds_stale_files() {
    let dir = temp_dir("build");
    let src = write(&dir, "p/two.choreo", TWO);
    let out = dir.join("out").display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["build", "--out", &out, "--runtime-version", "0.1"];
        args.extend_from_slice(extra);
        args.push(&src);
        choreoc(&args)
    };
    let first = run(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("4 written, 0 unchanged"),
        "{}",
        stderr(&first)
    );
    let cargo = std::fs::read_to_string(dir.join("out/first/Cargo.toml")).expect("Cargo.toml");
    assert!(cargo.contains("choreo-runtime = \"0.1\""), "{cargo}");
    assert!(cargo.starts_with("# @generated by choreoc"));
    let lib = dir.join("out/second/src/lib.rs");
    let before = std::fs::metadata(&lib)
        .and_then(|m| m.modified())
        .expect("mtime");
    let again = run(&[]);
    assert!(
        stderr(&again).contains("0 written, 4 unchanged"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::metadata(&lib)
            .and_then(|m| m.modified())
            .expect("mtime"),
        before,
        "not rewritten"
    );
    assert_eq!(run(&["--check"]).status.code(), Some(0));
    std::fs::write(&lib, "// edited by hand\n").expect("edit");
    let check = run(&["--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stderr(&check).contains("second/src/lib.rs (stale)"),
        "{}",
        stderr(&check)
    );
    assert_eq!(
        std::fs::read_to_string(&lib).expect("lib"),
        "// edited by hand\n",
        "--check writes nothing"
    );
    let bad = write(&dir, "bad.choreo", BAD);
    assert_eq!(
        choreoc(&["build", "--out", &out, &bad]).status.code(),
        Some(1)
    );
}

#[test]
fn graph_prints_diagrams_and_check_finds_stale_files() {
    let dir = temp_dir("graph");
    let src = write(&dir, "g.choreo", TWO);
    let out = choreoc(&["graph", &src, "--protocol", "Second", "--format", "mermaid"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("sequenceDiagram") && stdout(&out).contains("X->>Ys: All"),
        "{}",
        stdout(&out)
    );
    let out = choreoc(&[
        "graph",
        &src,
        "--protocol",
        "Second",
        "--format",
        "fsm",
        "--role",
        "Ys",
    ]);
    assert_eq!(stdout(&out).matches("digraph").count(), 2, "Ys[0] and Ys");
    let diagrams = dir.join("diagrams").display().to_string();
    assert_eq!(
        choreoc(&["graph", &src, "--out", &diagrams]).status.code(),
        Some(0)
    );
    assert_eq!(
        choreoc(&["graph", &src, "--out", &diagrams, "--check"])
            .status
            .code(),
        Some(0)
    );
    std::fs::write(dir.join("diagrams/Second.Ys-0.dot"), "edited\n").expect("edit");
    let check = choreoc(&["graph", &src, "--out", &diagrams, "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stderr(&check).contains("Second.Ys-0.dot (stale)"),
        "{}",
        stderr(&check)
    );
    assert_eq!(
        choreoc(&["graph", &src, "--check"]).status.code(),
        Some(2),
        "--check needs --out"
    );
}
