//! Snapshot tests of projection (language reference, section 7): the local
//! type of every role of every protocol in `protocols/`, and targeted cases in
//! `tests/cases/`.
//!
//! Each snapshot holds, per protocol of the file, a `# Protocol` line and one
//! `Role: type` line per local type, then the file's diagnostics (code,
//! `line:column`, message). Every snapshot was checked by hand against the
//! reference; three (`d_loop_in_for`, `e_bystander_same_compound`,
//! `e_bystander_shared_choice`) were written by hand from the reference before
//! the compiler produced them.

use choreoc::driver::{self, Unit};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The workspace root (the directory above `compiler/`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ has a parent")
        .to_path_buf()
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Renders the projections and diagnostics of a compiled file.
fn render(unit: &Unit) -> String {
    let mut out = String::new();
    match &unit.module {
        None => out.push_str("(the file does not parse)\n"),
        Some(module) => {
            for (i, protocol) in module.protocols.iter().enumerate() {
                let _ = writeln!(out, "# {}", protocol.name);
                match unit.projections.iter().find(|(j, _)| *j == i) {
                    Some((_, proj)) => {
                        for l in &proj.locals {
                            let _ = writeln!(
                                out,
                                "{}: {}",
                                l.name,
                                choreoc::project::local::print(&l.body, &protocol.roles)
                            );
                        }
                    }
                    None => out.push_str("(not projected)\n"),
                }
            }
        }
    }
    if !unit.diagnostics.is_empty() {
        out.push_str("\ndiagnostics:\n");
        for d in &unit.diagnostics {
            let at = unit.file.line_col(d.primary.span.start);
            let _ = writeln!(
                out,
                "{} {}:{} {}",
                d.code.as_str(),
                at.line,
                at.column,
                d.message
            );
        }
    }
    out
}

fn compile_file(path: &Path) -> Unit {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string();
    driver::compile(&name, &bytes)
}

/// Compiles and renders `tests/cases/<name>.choreo`; also says whether it
/// has errors.
fn case(name: &str) -> (String, bool) {
    let unit = compile_file(&cases_dir().join(format!("{name}.choreo")));
    (render(&unit), unit.has_errors())
}

macro_rules! case_test {
    ($(#[$attr:meta])* $test:ident, $file:literal, errors: $errors:expr) => {
        $(#[$attr])*
        #[test]
        fn $test() {
            let (out, has_errors) = case($file);
            insta::assert_snapshot!(concat!("cases__", $file), out);
            assert_eq!(has_errors, $errors, "errors in {}", $file);
        }
    };
    ($(#[$attr:meta])* $test:ident, $file:literal) => {
        case_test!($(#[$attr])* $test, $file, errors: false);
    };
}

/// One snapshot per file of `protocols/`, named after its path; none of them
/// has an error.
#[test]
fn protocols() {
    let root = workspace();
    let mut files =
        driver::find_sources(&[root.join("protocols")]).expect("protocols/ is readable");
    files.sort();
    assert!(!files.is_empty(), "no .choreo file under protocols/");
    for path in files {
        let unit = compile_file(&path);
        let out = render(&unit);
        assert!(!unit.has_errors(), "{}:\n{out}", path.display());
        let rel = path.strip_prefix(&root).expect("under the workspace");
        let name = rel.with_extension("").display().to_string();
        insta::assert_snapshot!(name, out);
    }
}

/// Every case file has a test with an accepted snapshot.
#[test]
fn every_case_has_a_snapshot() {
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(cases_dir()).expect("tests/cases is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "choreo") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !snapshots
                .join(format!("projection__cases__{stem}.snap"))
                .is_file()
            {
                missing.push(stem);
            }
        }
    }
    assert!(missing.is_empty(), "cases without a snapshot: {missing:?}");
}

// (a) A chooses and tells B; B tells C with distinct labels.
case_test!(third_party_knowledge, "a_third_party_knowledge");

// (b) A role silent in one branch and receiving in the other (E0501), and a
// role absent from both branches that acts after the choice.
case_test!(absent_from_one_branch, "b_absent_one_branch", errors: true);
case_test!(absent_from_both_branches, "b_absent_both_branches");

// (c) `case choose Participants[*] of`.
case_test!(family_chooser, "c_family_chooser");

// (d) `loop decide by`: fused, with `Continue`, a round that begins with the
// decider's choice, loop variable numbering, family recipients.
case_test!(loop_decide_fused, "d_loop_fused");
case_test!(loop_decide_continue, "d_loop_continue");
case_test!(loop_decide_choice_round, "d_loop_choice_round");
case_test!(loop_numbering, "d_loop_numbering");
case_test!(loop_decide_family, "d_loop_family");
case_test!(loop_decide_in_for, "d_loop_in_for");

// (e) Nested choices with bystanders that merge.
case_test!(nested_choice, "e_nested_choice");
case_test!(nested_merge_further, "e_nested_merge_further");
case_test!(bystander_same_compound, "e_bystander_same_compound");
case_test!(bystander_shared_choice, "e_bystander_shared_choice");

// (f) `loop repeat`, `loop forever`, `for w in Workers`.
case_test!(repeat_const, "f_repeat_const");
case_test!(repeat_param, "f_repeat_param");
case_test!(forever, "f_forever");
case_test!(for_each, "f_for_each");

// (g) Singled-out members.
case_test!(singled_out_members, "g_singled_out");
case_test!(fixed_family_all_singled_out, "g_fixed_all_singled");

// (h) Several protocols in one file.
case_test!(several_protocols, "h_several_protocols");

// (i) `choice at R` and byte-wise label order.
case_test!(choice_at_and_sorting, "i_choice_at_sorting");

// `skip` and a lone `end`.
case_test!(skip_and_end, "j_skip_and_end");
