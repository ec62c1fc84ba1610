//! `choreoc fmt` and `choreoc breaking` as a user runs them: what they
//! write, print and exit with.

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
    let dir = std::env::temp_dir().join(format!("choreoc-evo-{name}-{}", std::process::id()));
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const FORMATTED: &str = "protocol P =\n  roles A, B\n  A -> B : Ping -- hi\n  B -> A : Pong\n";
const MESSY: &str = "protocol P = { roles A,B; A->B:Ping }\n";

#[test]
fn fmt_check_prints_a_diff_and_writes_nothing() {
    let dir = temp_dir("check");
    let good = write(&dir, "a/good.choreo", FORMATTED);
    let messy = write(&dir, "b/messy.choreo", MESSY);
    let out = choreoc(&["fmt", "--check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.contains(&format!("--- {messy}")), "{diff}");
    assert!(
        diff.contains("-protocol P = { roles A,B; A->B:Ping }"),
        "{diff}"
    );
    assert!(diff.contains("+  A -> B : Ping"), "{diff}");
    assert!(!diff.contains(&good), "{diff}");
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY);
    assert!(
        stderr(&out).contains("2 files, 1 not formatted"),
        "{}",
        stderr(&out)
    );
    let out = choreoc(&["fmt", "--check", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn fmt_rewrites_only_files_whose_layout_changes() {
    let dir = temp_dir("write");
    let good = write(&dir, "good.choreo", FORMATTED);
    let messy = write(&dir, "messy.choreo", MESSY);
    let before = std::fs::metadata(&good).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = choreoc(&["fmt", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "protocol P =\n  roles A, B\n  A -> B : Ping\n"
    );
    assert_eq!(std::fs::read_to_string(&good).unwrap(), FORMATTED);
    assert_eq!(
        std::fs::metadata(&good).unwrap().modified().unwrap(),
        before
    );
    let again = choreoc(&["fmt", "--check", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

#[test]
fn fmt_reports_syntax_errors_and_missing_paths() {
    let dir = temp_dir("errors");
    let bad = write(
        &dir,
        "bad.choreo",
        "protocol P =\n  roles A, B\n  A -> B Hi\n",
    );
    let out = choreoc(&["fmt", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E0001"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "protocol P =\n  roles A, B\n  A -> B Hi\n"
    );
    let out = choreoc(&["fmt", dir.join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

const V1: &str =
    "protocol P =\n  roles A, B\n  A[flow_cost = 1] -> B : Ask(id: u64)\n  B -> A : Answer(u32)\n";

#[test]
fn breaking_reports_wire_breaks_at_the_new_text_with_the_old_one() {
    let dir = temp_dir("wire");
    let old = write(&dir, "old/p.choreo", V1);
    let new = write(
        &dir,
        "new/p.choreo",
        &V1.replace("Answer(u32)", "Reply(u32)"),
    );
    let out = choreoc(&["breaking", "--against", &old, &new]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("E1201"), "{err}");
    assert!(err.contains("a new `B` sends `Reply` to `A`"), "{err}");
    assert!(err.contains("in the old version"), "{err}");
    assert!(
        err.contains("new/p.choreo:4:3") && err.contains("old/p.choreo:4:3"),
        "{err}"
    );
    assert!(err.contains("2 wire-breaking, 0 API-breaking"), "{err}");

    let out = choreoc(&[
        "breaking",
        "--against",
        &old,
        &new,
        "--error-format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    for l in &lines {
        assert_eq!(l["code"], "E1201");
        assert_eq!(l["category"], "wire");
        assert_eq!(l["file"], new.as_str());
        assert_eq!(l["old"]["file"], old.as_str());
        assert_eq!(l["line"], 4);
    }
    let same = choreoc(&["breaking", "--against", &old, &old]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
}

#[test]
fn breaking_allows_api_breaks_on_request_and_passes_compatible_changes() {
    let dir = temp_dir("api");
    let old = write(&dir, "old.choreo", V1);
    let api = write(
        &dir,
        "api.choreo",
        &V1.replace("Ask(id: u64)", "Ask(key: u64)"),
    );
    let out = choreoc(&["breaking", "--against", &old, &api]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("E1202"), "{}", stderr(&out));
    let out = choreoc(&["breaking", "--against", &old, &api, "--allow", "api"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 wire-breaking, 1 API-breaking"),
        "{}",
        stderr(&out)
    );
    let cost = write(
        &dir,
        "cost.choreo",
        &V1.replace("flow_cost = 1", "flow_cost = 2"),
    );
    let out = choreoc(&["breaking", "--against", &old, &cost]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("W1203") && stderr(&out).contains("tighter"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn breaking_against_a_git_revision_reads_the_same_paths_there() {
    let dir = temp_dir("git");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "-q"]);
    let file = write(&dir, "protocols/p.choreo", V1);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v1"]);
    let protocols = dir.join("protocols");
    let out = choreoc(&[
        "breaking",
        "--against-git",
        "HEAD",
        protocols.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(&file, V1.replace("B -> A : Answer(u32)\n", "")).expect("write");
    let out = choreoc(&["breaking", "--against-git", "HEAD", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HEAD:protocols/p.choreo"),
        "{}",
        stderr(&out)
    );
    let out = choreoc(&["breaking", "--against-git", "no-such-rev", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = choreoc(&["breaking", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
