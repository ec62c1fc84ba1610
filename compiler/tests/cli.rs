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
    let entry = choreoc(&["explain", "e0501"]);
    assert_eq!(entry.status.code(), Some(0));
    let text = stdout(&entry);
    assert!(
        text.starts_with("## E0501: a role cannot learn the choice\n"),
        "{text}"
    );
    // The whole entry: the example and the fix, not only a summary.
    assert!(
        text.contains("```choreo\nprotocol P =\n  roles A, B, C\n"),
        "{text}"
    );
    assert!(text.contains("How to fix"), "{text}");
    assert!(!text.contains("## E0601"), "only the one entry: {text}");
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
        stdout(&out).contains("participant r1 as Ys[N]")
            && stdout(&out).contains("r0->>r1: All [to each of Ys[*]]"),
        "{}",
        stdout(&out)
    );
    let fsm = |role: &str| {
        choreoc(&[
            "graph",
            &src,
            "--protocol",
            "Second",
            "--format",
            "fsm",
            "--role",
            role,
        ])
    };
    let one = fsm("Ys[0]");
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(stdout(&one).matches("digraph").count(), 1);
    // Two machines do not fit in one stream that `dot` reads.
    let two = fsm("Ys");
    assert_eq!(two.status.code(), Some(2));
    assert!(stdout(&two).is_empty());
    assert!(
        stderr(&two).contains("Second.Ys-0, Second.Ys") && stderr(&two).contains("--out"),
        "{}",
        stderr(&two)
    );
    let both = choreoc(&["graph", &src]);
    assert_eq!(both.status.code(), Some(2), "two protocols, one stdout");
    assert!(stderr(&both).contains("First, Second"), "{}", stderr(&both));
    let diagrams = dir.join("diagrams").display().to_string();
    let machines = dir.join("machines");
    let out = choreoc(&[
        "graph",
        &src,
        "--format",
        "fsm",
        "--out",
        &machines.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut written: Vec<String> = std::fs::read_dir(&machines)
        .expect("machines")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "First.A.dot",
            "First.B.dot",
            "Second.X.dot",
            "Second.Ys-0.dot",
            "Second.Ys.dot"
        ]
    );
    for name in &written {
        let text = std::fs::read_to_string(machines.join(name)).expect("read");
        assert_eq!(text.matches("digraph").count(), 1, "{name}");
    }
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

/// Runs the binary with `input` on standard input.
fn choreoc_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_choreoc"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

#[test]
fn every_verb_takes_directories_and_stdin() {
    let dir = temp_dir("verbs");
    write(&dir, "nested/good.choreo", GOOD);
    let d = dir.display().to_string();
    let project = choreoc(&["project", &d]);
    assert_eq!(project.status.code(), Some(0), "{}", stderr(&project));
    assert_eq!(
        stdout(&project),
        "A: !B.Ping; ?B.Pong; end\nB: ?A.Ping; !A.Pong; end\n"
    );
    let graph = choreoc(&["graph", &d, "--format", "mermaid"]);
    assert_eq!(graph.status.code(), Some(0), "{}", stderr(&graph));
    assert!(stdout(&graph).starts_with("%% @generated by choreoc from "));
    let simulate = choreoc(&["simulate", &d]);
    assert_eq!(simulate.status.code(), Some(0), "{}", stderr(&simulate));
    assert!(
        stdout(&simulate).contains("1 path(s)"),
        "{}",
        stdout(&simulate)
    );

    let from_stdin = choreoc_stdin(&["project", "-"], GOOD);
    assert_eq!(stdout(&from_stdin), stdout(&project));
    let bad = choreoc_stdin(&["check", "--error-format", "json", "-"], BAD);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout(&bad).trim()).expect("JSON");
    assert_eq!(v["file"], "<stdin>");
    assert_eq!(
        choreoc(&["check", "-", "-"]).status.code(),
        Some(2),
        "standard input can be read once"
    );
}

#[test]
fn no_input_found_is_a_usage_error() {
    let dir = temp_dir("empty");
    write(&dir, "notes.txt", "no protocol here");
    let d = dir.display().to_string();
    for verb in ["check", "project", "simulate", "graph", "build"] {
        let out = choreoc(&[verb, &d]);
        assert_eq!(out.status.code(), Some(2), "{verb}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no .choreo file in"),
            "{verb}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn github_format_prints_workflow_commands() {
    let dir = temp_dir("github");
    let bad = write(&dir, "bad.choreo", BAD);
    let warn = write(
        &dir,
        "warn.choreo",
        "protocol P =\n  roles A, B, Idle\n  A -> B : M\n",
    );
    let out = choreoc(&["check", "--error-format", "github", &bad, &warn]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "::error file={bad},line=4,col=8,endColumn=9,title=choreoc E0101::role `C` is not declared"
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "::warning file={warn},line=2,col=15,endColumn=19,title=choreoc W0901::"
        )),
        "{}",
        lines[1]
    );
    // A help line rides along, with the line break escaped.
    assert!(lines[1].contains("%0Ahelp: "), "{}", lines[1]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn quiet_and_color() {
    let dir = temp_dir("quiet");
    let good = write(&dir, "good.choreo", GOOD);
    let bad = write(&dir, "bad.choreo", BAD);
    let loud = choreoc(&["check", &good]);
    assert!(stderr(&loud).contains("checked 1 file"));
    let quiet = choreoc(&["check", "-q", &good]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
    let quiet_bad = choreoc(&["-q", "check", &bad]);
    assert!(stderr(&quiet_bad).contains("E0101"), "diagnostics stay");
    assert!(!stderr(&quiet_bad).contains("checked"));
    let always = choreoc(&["check", "--color", "always", &bad]);
    assert!(stderr(&always).contains('\u{1b}'), "ANSI colour codes");
    let never = choreoc(&["check", "--color", "never", &bad]);
    assert!(!stderr(&never).contains('\u{1b}'));
}

#[test]
fn misspelled_selections_get_suggestions() {
    let dir = temp_dir("suggest");
    let f = write(&dir, "two.choreo", TWO);
    let out = choreoc(&["project", &f, "--protocol", "Secnd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `Second`?"),
        "{}",
        stderr(&out)
    );
    let out = choreoc(&["project", &f, "--protocol", "Second", "--role", "Y"]);
    assert_eq!(out.status.code(), Some(2));
    let out = choreoc(&["simulate", &f, "--family", "Yss=2"]);
    assert!(
        stderr(&out).contains("did you mean `Ys`?"),
        "{}",
        stderr(&out)
    );
    let out = choreoc(&["explain", "E0510"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `E0501`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_protocols_of_one_name_are_not_written_over_each_other() {
    let dir = temp_dir("clash");
    let a = write(&dir, "a.choreo", GOOD);
    let b = write(&dir, "b.choreo", GOOD);
    let out = dir.join("out").display().to_string();
    let graph = choreoc(&["graph", &a, &b, "--out", &out]);
    assert_eq!(graph.status.code(), Some(2));
    assert!(
        stderr(&graph).contains("would be written twice"),
        "{}",
        stderr(&graph)
    );
    assert!(!dir.join("out").exists(), "nothing written");
}

#[test]
fn build_without_runtime_flags_uses_the_runtime_of_this_source_tree() {
    let dir = temp_dir("runtime");
    let src = write(&dir, "good.choreo", GOOD);
    let out = dir.join("out");
    let run = choreoc(&["build", "--out", &out.display().to_string(), &src]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("the source tree this choreoc was built from"),
        "{}",
        stderr(&run)
    );
    let crate_dir = out.join("p");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("choreo-runtime = "))
        .expect("a runtime dependency");
    let path = line
        .split("path = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a path dependency: {line}"));
    assert!(!Path::new(path).is_absolute(), "{path}");
    let runtime = std::fs::read_to_string(crate_dir.join(path).join("Cargo.toml"))
        .expect("the path leads to a crate");
    assert!(runtime.contains("name = \"choreo-runtime\""), "{path}");

    let pinned = choreoc(&[
        "build",
        "--out",
        &out.display().to_string(),
        "--runtime-version",
        "0.1.0",
        &src,
    ]);
    assert_eq!(pinned.status.code(), Some(0), "{}", stderr(&pinned));
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("choreo-runtime = \"0.1.0\""),
        "{manifest}"
    );
}
