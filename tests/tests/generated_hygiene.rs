//! Generated code compiles, warning-free and clippy-clean, for protocols
//! whose roles, labels, fields and payload types are named after every Rust
//! keyword, the standard prelude's names and the names the generated code
//! itself uses (`tests/hygiene/*.choreo`), with a role that takes no part, a
//! send merged across a choice's branches, index variables named like the
//! runner's locals and decided loops. Both forms are built for real in a
//! temporary workspace: the crate `choreoc build` writes (with its
//! `scripted` feature) and the module a build script writes, included in a
//! library with strict lints and in a program that uses none of it.
//!
//! It runs `cargo clippy` on about ten small crates, so it is left to
//! release runs (as CI does them), and bounded: cargo is stopped after
//! `LIMIT`.

use choreoc::emit::rust::{crate_dir, render, render_module, ModuleOptions, RuntimeDep};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20 * 60);

/// The lints the library that includes the modules denies, as a user's
/// crate might.
const STRICT: &str = "#![deny(warnings, missing_docs, rust_2018_idioms, unused_qualifications)]";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, text).expect("write");
}

/// Writes the temporary workspace: one crate per protocol, and the crate
/// `modules` including every protocol's module twice (with and without
/// `scripted`) in its library and once in its program.
fn workspace(dir: &Path) -> Vec<String> {
    let runtime = root().join("runtime");
    let mut members = Vec::new();
    let mut lib = format!("//! Every hygiene protocol as a build script's module.\n{STRICT}\n");
    let mut main =
        String::from("//! Includes every module and uses none of it.\n#![deny(warnings)]\n");
    let sources = choreoc::driver::find_sources(&[root().join("tests/hygiene")]).expect("sources");
    assert_eq!(sources.len(), 3, "{sources:?}");
    for path in &sources {
        let unit = choreoc::driver::compile_path(path).expect("read");
        assert!(
            !unit.has_errors(),
            "{}: {:?}",
            path.display(),
            unit.diagnostics
        );
        let module = unit.module.as_ref().expect("compiles");
        let line_of = |offset: usize| unit.file.line_col(offset).line;
        let source = format!(
            "tests/hygiene/{}",
            path.file_name().expect("name").to_string_lossy()
        );
        for (i, projection) in &unit.projections {
            let protocol = &module.protocols[*i];
            let dep = RuntimeDep::Path(runtime.display().to_string());
            for file in render(protocol, projection, &source, &line_of, &dep) {
                write(&dir.join("crates").join(&file.path), &file.content);
            }
            members.push(format!("crates/{}", crate_dir(&protocol.name)));
            let name = crate_dir(&protocol.name);
            for (scripted, folder) in [(true, "scripted"), (false, "plain")] {
                let options = ModuleOptions { scripted };
                let text = render_module(protocol, projection, &source, &line_of, &options);
                write(&dir.join(format!("modules/src/{folder}/{name}.rs")), &text);
                lib += &format!(
                    "/// `{}`{}.\npub mod {folder}_{name} {{\n    include!(\"{folder}/{name}.rs\");\n}}\n",
                    protocol.name,
                    if scripted { " with scripted roles" } else { "" }
                );
            }
            main += &format!("include!(\"plain/{name}.rs\");\n");
        }
    }
    main += "fn main() {}\n";
    write(&dir.join("modules/src/lib.rs"), &lib);
    write(&dir.join("modules/src/main.rs"), &main);
    write(
        &dir.join("modules/Cargo.toml"),
        &format!(
            "[package]\nname = \"modules\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nchoreo-runtime = {{ path = {:?} }}\n",
            runtime.display().to_string()
        ),
    );
    members.push("modules".into());
    let list: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
            list.join(", ")
        ),
    );
    // The workspace's versions of every dependency, already downloaded.
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    members
}

#[test]
#[cfg_attr(debug_assertions, ignore = "builds ten crates: run with --release")]
fn generated_code_is_clean_whatever_the_names() {
    let dir = std::env::temp_dir().join(format!("choreo-hygiene-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let members = workspace(&dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "clippy",
            "--offline",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--message-format=json",
            "--quiet",
        ])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root().join("target/hygiene"))
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo runs");
    // Read both pipes while cargo runs, so that it never waits on a full one.
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("cargo clippy did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = stdout.join().expect("stdout");
    let stderr = stderr.join().expect("stderr");
    let problems: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-message")
        .filter(|m| matches!(m["message"]["level"].as_str(), Some("warning" | "error")))
        .filter_map(|m| m["message"]["rendered"].as_str().map(str::to_string))
        .collect();
    assert!(
        problems.is_empty() && status.success(),
        "{} problems building {members:?} in {}:\n{}\n{}",
        problems.len(),
        dir.display(),
        problems.join("\n"),
        stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
