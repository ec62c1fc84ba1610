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
