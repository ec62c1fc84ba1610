//! `choreoc fmt`: the canonical layout of reviewed cases (golden files), and
//! its promises over the corpus and generated protocols: it keeps the meaning
//! (checked model, projections, comments), it is idempotent, and every file of
//! `protocols/` and `tests/fixtures/` is already in it.

use choreoc::fmt::{difference, format, meaning};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

mod gen;

fn fmt(src: &str) -> String {
    match format(src, "case") {
        Ok(text) => text,
        Err(d) => panic!("fmt failed: {d:?}\n{src}"),
    }
}

/// Formats `src`, checks idempotence, and returns the result.
fn canonical(src: &str) -> String {
    let once = fmt(src);
    let twice = fmt(&once);
    assert_eq!(once, twice, "fmt is not idempotent on\n{src}");
    once
}

const CASES: &[(&str, &str)] = &[
    (
        "braces_and_semicolons",
        "protocol P = { roles A, B; A -> B : Ping; B -> A : Pong }\n",
    ),
    (
        "spacing_indexes_and_payloads",
        "protocol P =\n    roles A,B[ N ],C[*]\n    A[flow_cost=1,audit_log = \"a\\\"b\",]->B[ * ]:M( Vec< u8 > )\n    B[0] -> C[0..2] : N(x:u64,y : [u8;32])\n    C[1]->A:Q()\n    A[] -> C[*] : R\n",
    ),
    (
        "comments_everywhere",
        "-- file header\n\n{- block\n   header -}\nmodule m exposing (P)\n-- about P\nprotocol P = -- after the header\n  roles A, B -- the roles\n  -- before a message\n  A -> {- inline -} B : M -- trailing\n  A[flow_cost = 1, -- first\n    audit_log = \"x\"] -> B : N -- second\n  {- own\n     line -}\n  B -> A : O\n-- at the end\n",
    ),
    (
        "comments_at_dedents",
        "protocol P =\n  roles A, B\n  case choose A of\n    X ->\n      A -> B : M\n      -- still in X\n    -- before Y\n    Y ->\n      A -> B : N\n        -- deeper than anything\n  -- back at the body\n  B -> A : Done\n",
    ),
    (
        "blank_lines_collapse",
        "\n\nmodule m exposing (P, Q)\nprotocol P =\n\n  roles A, B\n\n\n\n  A -> B : M\n  case choose A of\n\n    X ->\n\n      A -> B : N\n\n    Y -> {}\n\n\n\nprotocol Q =\n  roles A, B\n  A -> B : M\n\n\n",
    ),
    (
        "inline_branches_and_empty_blocks",
        "protocol P =\n  roles A, B\n  choice at A\n    Yes -> A -> B : Y\n    No -> {}\n  loop decide by A { A -> B : Again }\n  loop repeat 3\n    B -> A : Tick\n  loop repeat n { A -> B : Tock }\n",
    ),
    (
        "attributes_and_for",
        "protocol P =\n  roles C, W[N]\n  @parallel for w in W\n    C -> W[w] : Task\n    W[w] -> C : Done_\n  @parallel\n  @retry(3, \"slow\", fast, [1,2])\n  C -> W[*] : Stop\n",
    ),
    (
        "crlf_tabs_and_bom",
        "\u{feff}protocol P =\r\n  roles A, B\r\n  A\t->\tB : M -- crlf\r\n",
    ),
    (
        "family_chooser_and_fixed_family",
        "protocol P =\n  roles Ps[3], Hub\n  case choose Ps[*] of\n    Join ->\n      Ps[*]->Hub:Joined\n    Leave ->\n      Ps[*] -> Hub : Left\n",
    ),
];

#[test]
fn golden_layouts() {
    for (name, src) in CASES {
        let out = canonical(src);
        insta::assert_snapshot!(format!("fmt_{name}"), out, src);
    }
}

#[test]
fn every_comment_is_kept_once_in_order() {
    for (name, src) in CASES {
        let before = meaning(src, "case").expect("parses");
        let after = meaning(&fmt(src), "case").expect("parses");
        assert_eq!(before.comments, after.comments, "{name}");
    }
}

#[test]
fn layout_that_changes_meaning_is_detected() {
    let base = "protocol P =\n  roles A, B\n  A -> B : M -- c\n";
    let m = |s: &str| meaning(s, "x").expect("parses");
    assert_eq!(difference(&m(base), &m(base)), None);
    for (other, what) in [
        (
            "protocol P =\n  roles A, B\n  A -> B : N -- c\n",
            "checked model",
        ),
        (
            "protocol P =\n  roles A, B\n  B -> A : M -- c\n",
            "checked model",
        ),
        (
            "protocol P =\n  roles A, B\n  A -> B : M -- d\n",
            "comments",
        ),
        ("protocol P =\n  roles A, B\n  A -> B : M\n", "comments"),
        (
            "protocol P =\n  roles A, B, C\n  A -> B : M -- c\n",
            "diagnostics",
        ),
    ] {
        let diff = difference(&m(base), &m(other)).unwrap_or_default();
        assert!(diff.contains(what), "{other:?}: {diff:?}");
    }
}

#[test]
fn a_result_that_changes_meaning_is_refused_with_e1101() {
    let base = "protocol P =\n  roles A, B\n  A -> B : M -- c\n";
    let ok = choreoc::fmt::accept_formatted(base, base.replace("  A", "  A "), "x");
    assert_eq!(
        ok.as_deref(),
        Ok("protocol P =\n  roles A, B\n  A  -> B : M -- c\n")
    );
    for wrong in [
        base.replace(" M ", " N "),
        base.replace("-- c", ""),
        base.replace("roles", "rolls"),
    ] {
        let err = choreoc::fmt::accept_formatted(base, wrong.clone(), "x").expect_err("refused");
        assert_eq!(err[0].code.as_str(), "E1101", "{wrong:?}");
    }
}

#[test]
fn syntax_errors_are_reported_not_formatted() {
    let err = format("protocol P =\n  roles A, B\n  A -> B M\n", "x").expect_err("fails");
    assert_eq!(err[0].code.as_str(), "E0001");
    let err = format("protocol P =\n\troles A\n", "x").expect_err("fails");
    assert_eq!(err[0].code.as_str(), "E0002");
}

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files =
        choreoc::driver::find_sources(&[root.join("protocols"), root.join("tests/fixtures")])
            .expect("corpus");
    files.retain(|p| !p.components().any(|c| c.as_os_str() == "generated"));
    assert!(files.len() >= 16, "only {} files", files.len());
    files
}

#[test]
fn the_corpus_is_formatted_and_formatting_keeps_its_meaning() {
    for path in corpus() {
        let src = std::fs::read_to_string(&path).expect("read");
        let out = canonical(&src);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
        let (a, b) = (
            meaning(&src, stem).expect("parses"),
            meaning(&out, stem).expect("parses"),
        );
        assert_eq!(difference(&a, &b), None, "{}", path.display());
        assert!(a.projections.iter().all(Result::is_ok));
        assert_eq!(
            out,
            src,
            "{} is not formatted: run `cargo run --release -p choreoc -- fmt {}`",
            path.display(),
            path.display()
        );
    }
}

/// The same protocol written another way: blocks indented by `width` per
/// level, own-line and trailing comments (marked) added at random lines.
fn relayout(src: &str, width: usize, seed: u64) -> String {
    let mut rng = gen::Rng(seed | 1);
    let mut out = String::new();
    for line in src.lines() {
        let depth = (line.len() - line.trim_start().len()) / 2;
        let indent = " ".repeat(depth * width);
        if rng.below(4) == 0 {
            out.push_str(&format!("{indent}-- own {}\n", rng.below(100)));
        }
        out.push_str(&indent);
        out.push_str(line.trim_start());
        if rng.below(4) == 0 {
            out.push_str(&format!("   -- trail {}", rng.below(100)));
        }
        out.push('\n');
    }
    out
}

fn strip_marked_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("-- own "))
        .map(|l| l.split(" -- trail ").next().unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_protocols_format_to_the_same_meaning(seed in any::<u64>(), width in 1usize..5) {
        let src = gen::generate(seed);
        let canon = canonical(&src);
        let before = meaning(&src, "gen").expect("parses");
        prop_assert!(before.projections.iter().all(Result::is_ok));
        let after = meaning(&canon, "gen").expect("parses");
        prop_assert_eq!(difference(&before, &after), None);
        prop_assert_eq!(&before.projections, &after.projections);
        // Written another way, it formats back to the same text (and the
        // added comments stay, each in its place).
        let other = relayout(&src, width, seed);
        let reformatted = canonical(&other);
        let m = meaning(&other, "gen").expect("parses");
        prop_assert_eq!(&m.projections, &before.projections);
        prop_assert_eq!(m.comments, meaning(&reformatted, "gen").expect("parses").comments);
        prop_assert_eq!(strip_marked_comments(&reformatted), canon);
    }

    #[test]
    fn damaged_input_never_panics_the_formatter(seed in any::<u64>(), cut in 0usize..2000, junk in "[ \\t\\n{}()\\[\\]:;,=*.@\"a-zA-Z0-9>-]{0,8}") {
        let src = gen::generate(seed);
        let at = cut.min(src.len());
        let damaged = format!("{}{junk}{}", &src[..at], &src[at..]);
        if let Ok(text) = format(&damaged, "x") {
            prop_assert_eq!(format(&text, "x").ok(), Some(text));
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_formatter(src in "\\PC{0,200}") {
        let _ = format(&src, "x");
    }
}
