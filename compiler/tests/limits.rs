//! Size and depth limits: nothing crashes the front end. Deep nesting beyond
//! the documented limit (`MAX_NESTING`) is a diagnostic; within it,
//! everything works, even on a test thread's small stack.

use choreoc::diag::Code;
use choreoc::driver::compile;
use choreoc::syntax::layout::MAX_NESTING;

fn codes(src: &str) -> Vec<&'static str> {
    compile("limits.choreo", src.as_bytes())
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

fn nested_loops(depth: usize) -> String {
    let mut s = String::from("protocol Deep =\n  roles A, B\n");
    for i in 0..depth {
        s += &format!("{}loop repeat 2\n", " ".repeat(2 + i));
    }
    s += &format!("{}A -> B : M\n", " ".repeat(2 + depth));
    s
}

#[test]
fn nesting_up_to_the_limit_works() {
    // The protocol body is one level; leave room for it.
    let src = nested_loops(MAX_NESTING - 1);
    let unit = compile("deep.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics);
    let (_, proj) = &unit.projections[0];
    let text = proj
        .display(&unit.module.as_ref().unwrap().protocols[0])
        .to_string();
    assert!(text.starts_with("A: repeat 2 {repeat 2 {"), "{text}");
    assert_eq!(text.matches("repeat 2 {").count(), 2 * (MAX_NESTING - 1));
}

#[test]
fn indentation_thousands_deep_is_a_diagnostic() {
    let unit = compile("deep.choreo", nested_loops(5000).as_bytes());
    let d = &unit.diagnostics[0];
    assert_eq!(d.code, Code::TooDeep);
    // Line 3 + i holds loop i at level i + 1 (the body is level 1), so the
    // first line past the limit is loop MAX_NESTING, on line MAX_NESTING + 3.
    assert_eq!(
        unit.file.line_col(d.primary.span.start).line,
        MAX_NESTING + 3
    );
}

#[test]
fn braces_thousands_deep_are_a_diagnostic() {
    let src = format!(
        "protocol P = {{ roles A, B; {} A -> B : M {} }}",
        "loop forever {".repeat(5000),
        "}".repeat(5000)
    );
    assert_eq!(codes(&src), ["E0004"]);
}

#[test]
fn nested_comments_and_lists_thousands_deep_are_a_diagnostic() {
    let src = format!(
        "{}\nprotocol P =\n  roles A, B\n  A -> B : M\n",
        "{-".repeat(5000)
    );
    assert_eq!(codes(&src), ["E0004"]);
    let src = format!(
        "protocol P =\n  roles A, B\n  A[x = {}1{}] -> B : M\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert_eq!(codes(&src), ["E0004"]);
}

#[test]
fn choices_nested_to_the_limit_work() {
    let depth = MAX_NESTING / 2 - 1; // two braces per level
    let src = format!(
        "protocol P = {{ roles A, B; {} A -> B : End {} }}",
        "case choose A of { X -> { A -> B : M; ".repeat(depth),
        "} }".repeat(depth)
    );
    let unit = compile("choices.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a million statements: run with --release")]
fn a_million_statements_check_and_project() {
    let mut src = String::from("protocol Huge =\n  roles A, B\n");
    for i in 0..1_000_000 {
        src += if i % 2 == 0 {
            "  A -> B : Ping(u64)\n"
        } else {
            "  B -> A : Pong\n"
        };
    }
    let unit = compile("huge.choreo", src.as_bytes());
    assert!(!unit.has_errors(), "{:?}", unit.diagnostics.first());
    let (_, proj) = &unit.projections[0];
    assert_eq!(proj.locals[0].body.len(), 1_000_000);
}
