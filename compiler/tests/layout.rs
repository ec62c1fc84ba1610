//! Layout: indentation, explicit braces, comments and blank lines, line
//! endings, and lines wrapped inside brackets (language reference, section 2).
//!
//! Accepted inputs are checked through their projection (every role's local
//! type in canonical notation), so that a test passes only when the block
//! structure was understood, not merely parsed.

mod common;
use choreoc::check::model::{Protocol, Stmt};
use choreoc::diag::Code;
use choreoc::driver::{compile, Unit};
use choreoc::project::local::print;
use common::listing;

/// Compiles `src`, requires it to have no diagnostic at all, and returns the
/// projection of every protocol: one `Name: type` line per local type.
fn projection(src: &str) -> String {
    let unit = compile("layout.choreo", src.as_bytes());
    assert!(
        unit.diagnostics.is_empty(),
        "expected no diagnostics for:\n{src}\ngot:\n{}",
        listing(&unit)
    );
    let module = unit
        .module
        .as_ref()
        .expect("a file without errors has a module");
    assert_eq!(
        unit.projections.len(),
        module.protocols.len(),
        "every protocol projects"
    );
    let mut out = String::new();
    for (i, proj) in &unit.projections {
        let protocol = &module.protocols[*i];
        for local in &proj.locals {
            out.push_str(&local.name);
            out.push_str(": ");
            out.push_str(&print(&local.body, &protocol.roles));
            out.push('\n');
        }
    }
    out
}

/// The single protocol of `src`, which must compile without diagnostics.
fn only_protocol(src: &str) -> Protocol {
    let unit = compile("layout.choreo", src.as_bytes());
    assert!(unit.diagnostics.is_empty(), "{}", listing(&unit));
    let mut module = unit.module.expect("module");
    assert_eq!(module.protocols.len(), 1);
    module.protocols.remove(0)
}

/// Asserts that `src` is rejected, and that its first diagnostic has `code`
/// and sits at `line:col`. Returns the unit for further checks.
fn rejected_at(src: &str, code: Code, line: usize, col: usize) -> Unit {
    let unit = compile("layout.choreo", src.as_bytes());
    let first = unit.diagnostics.first().unwrap_or_else(|| {
        panic!(
            "expected {} at {line}:{col} for:\n{src:?}\nbut nothing was reported",
            code.as_str()
        )
    });
    let at = unit.file.line_col(first.primary.span.start);
    assert_eq!(
        (first.code, at.line, at.column),
        (code, line, col),
        "for:\n{src:?}\ngot:\n{}",
        listing(&unit)
    );
    unit
}

/// The lines joined with `\n`, each ended by a line feed.
fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

// ---- The reference protocol, written several ways ---------------------------

/// A two-phase ceremony with a family and a choice, in indentation layout.
fn ceremony_indented() -> String {
    lines(&[
        "protocol Ceremony =",
        "  roles Initiator, Guardian[N], Observer",
        "  Initiator -> Guardian[*] : Propose",
        "  case choose Initiator of",
        "    Commit ->",
        "      Initiator -> Guardian[*] : CommitCeremony",
        "      Guardian[*] -> Initiator : Ack",
        "      Initiator -> Observer : Finished",
        "    Abort ->",
        "      Initiator -> Guardian[*] : AbortCeremony",
        "      Initiator -> Observer : Cancelled",
        "  Observer -> Initiator : Seen",
    ])
}

const CEREMONY: &str = "\
Initiator: !Guardian[*].Propose; +{Abort: !Guardian[*].AbortCeremony; !Observer.Cancelled, Commit: !Guardian[*].CommitCeremony; ?Guardian[*].Ack; !Observer.Finished}; ?Observer.Seen; end
Guardian: ?Initiator.Propose; &{?Initiator.AbortCeremony, ?Initiator.CommitCeremony; !Initiator.Ack}; end
Observer: &{?Initiator.Cancelled, ?Initiator.Finished}; !Initiator.Seen; end
";

#[test]
fn indented_reference_protocol() {
    assert_eq!(projection(&ceremony_indented()), CEREMONY);
}

// ---- Tabs ---------------------------------------------------------------------

#[test]
fn tab_in_indentation_points_at_the_tab() {
    let head = "protocol P =\n  roles A, B\n";
    for (body, line, col) in [
        ("\tA -> B : M\n", 3, 1),
        ("  \tA -> B : M\n", 3, 3),
        (" \t \tA -> B : M\n", 3, 2),
        ("  A -> B : M\n\t\tB -> A : N\n", 4, 1),
        (
            "  case choose A of\n    X ->\n   \t   A -> B : M\n    Y ->\n      A -> B : N\n",
            5,
            4,
        ),
        // A tab on a blank or comment line before does not move the error.
        ("  -- note\n  A -> B : M\n    \tB -> A : N\n", 5, 5),
    ] {
        let src = format!("{head}{body}");
        let unit = rejected_at(&src, Code::TabIndent, line, col);
        let d = &unit.diagnostics[0];
        assert_eq!(
            &src[d.primary.span.start..d.primary.span.end],
            "\t",
            "the label covers exactly the tab"
        );
    }
}

#[test]
fn tab_in_indentation_of_a_crlf_file() {
    let src = "protocol P =\r\n  roles A, B\r\n  A -> B : M\r\n \tB -> A : N\r\n";
    rejected_at(src, Code::TabIndent, 4, 2);
}

#[test]
fn tabs_between_tokens_in_comments_and_strings_are_fine() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B\t-- a tab\there",
        "  A\t->\tB :\tM",
        "  B[audit_log = \"tab\tinside\"] -> A : N",
        "  {- a\tblock\tcomment -}",
    ]);
    assert_eq!(projection(&src), "A: !B.M; ?B.N; end\nB: ?A.M; !A.N; end\n");
}

// ---- Dedent to a column that matches no open block --------------------------

#[test]
fn dedent_to_unknown_column_between_branches() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "      Commit ->",
        "        A -> B : C",
        "    Abort ->",
        "      A -> B : D",
    ]);
    let unit = rejected_at(&src, Code::BadDedent, 6, 5);
    let d = &unit.diagnostics[0];
    assert!(d.message.contains("column 5"), "{}", d.message);
    assert_eq!(unit.diagnostics.len(), 1, "{}", listing(&unit));
}

#[test]
fn dedent_to_unknown_column_after_a_loop_body() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  loop repeat 3",
        "      A -> B : M",
        "    B -> A : N",
    ]);
    rejected_at(&src, Code::BadDedent, 5, 5);
}

#[test]
fn dedent_to_column_between_protocol_and_body() {
    let src = lines(&[
        "protocol P =",
        "    roles A, B",
        "    A -> B : M",
        "  B -> A : N",
    ]);
    rejected_at(&src, Code::BadDedent, 4, 3);
}

#[test]
fn dedent_past_several_blocks_to_unknown_column() {
    let src = lines(&[
        "protocol P =",
        "    roles A, W[N]",
        "    for i in W",
        "        case choose A of",
        "            X ->",
        "                A -> W[i] : M",
        "            Y ->",
        "                A -> W[i] : N",
        "      W[*] -> A : Done",
    ]);
    rejected_at(&src, Code::BadDedent, 9, 7);
}

#[test]
fn dedent_to_unknown_column_in_a_crlf_file() {
    let src = lines(&[
        "protocol P =\r",
        "  roles A, B\r",
        "  loop repeat 2\r",
        "      A -> B : M\r",
        "    B -> A : N\r",
    ]);
    rejected_at(&src, Code::BadDedent, 5, 5);
}

#[test]
fn one_dedent_closes_several_blocks() {
    let src = lines(&[
        "protocol P =",
        "  roles Coordinator, Workers[3], Auditor",
        "  for w in Workers",
        "    loop repeat 2",
        "      case choose Coordinator of",
        "        More ->",
        "          Coordinator -> Workers[w] : Task",
        "        Skip ->",
        "          Coordinator -> Workers[w] : Idle",
        "  Coordinator -> Auditor : Report",
    ]);
    assert_eq!(
        projection(&src),
        "Coordinator: foreach Workers {repeat 2 {+{More: !Workers[w].Task, Skip: !Workers[w].Idle}}}; !Auditor.Report; end\n\
         Workers: repeat 2 {&{?Coordinator.Idle, ?Coordinator.Task}}; end\n\
         Auditor: ?Coordinator.Report; end\n"
    );
}

// ---- Explicit braces ----------------------------------------------------------

#[test]
fn empty_branches_in_braces() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : Hello",
        "  case choose A of",
        "    Commit -> {}",
        "    Abort ->",
        "      {}",
        "    retry -> { }",
        "    later -> {",
        "    }",
        "  B -> A : Bye",
    ]);
    assert_eq!(
        projection(&src),
        "A: !B.Hello; +{Abort: skip, Commit: skip, later: skip, retry: skip}; ?B.Bye; end\n\
         B: ?A.Hello; !A.Bye; end\n"
    );
}

#[test]
fn abort_branch_empty_braces_is_parsed_as_a_branch() {
    // `Abort -> {}` next to a branch that talks: the file parses, and the
    // complaint is about knowledge of choice (B cannot tell the branches
    // apart), pointing at the `case`, not a syntax error.
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    Commit ->",
        "      A -> B : Go",
        "    Abort -> {}",
    ]);
    let unit = rejected_at(&src, Code::UnknowableChoice, 3, 3);
    assert!(
        unit.diagnostics[0].message.contains("`Commit` and `Abort`"),
        "{}",
        listing(&unit)
    );
}

#[test]
fn brace_block_on_its_own_line_after_branch_arrow() {
    let src = lines(&[
        "protocol Ceremony =",
        "  roles Initiator, Guardian[N], Observer",
        "  Initiator -> Guardian[*] : Propose",
        "  case choose Initiator of",
        "    Commit ->",
        "      {",
        "        Initiator -> Guardian[*] : CommitCeremony",
        "        Guardian[*] -> Initiator : Ack",
        "        Initiator -> Observer : Finished",
        "      }",
        "    Abort ->",
        "    {",
        "      Initiator -> Guardian[*] : AbortCeremony; Initiator -> Observer : Cancelled",
        "    }",
        "  Observer -> Initiator : Seen",
    ]);
    assert_eq!(projection(&src), CEREMONY);
}

#[test]
fn whole_protocol_in_braces_on_one_line() {
    let src = "protocol Ceremony = { roles Initiator, Guardian[N], Observer; \
        Initiator -> Guardian[*] : Propose; \
        case choose Initiator of { \
        Commit -> { Initiator -> Guardian[*] : CommitCeremony; Guardian[*] -> Initiator : Ack; Initiator -> Observer : Finished }; \
        Abort -> { Initiator -> Guardian[*] : AbortCeremony; Initiator -> Observer : Cancelled } }; \
        Observer -> Initiator : Seen }\n";
    assert_eq!(projection(src), CEREMONY);
}

#[test]
fn whole_protocol_in_braces_over_several_lines() {
    // Inside braces indentation is ignored: odd columns are fine, and each
    // line is a statement (`;` also separates).
    let src = lines(&[
        "protocol Ceremony = {",
        "roles Initiator, Guardian[N], Observer",
        "      Initiator -> Guardian[*] : Propose;",
        "  case choose Initiator of {",
        "        Commit -> {",
        "   Initiator -> Guardian[*] : CommitCeremony",
        "             Guardian[*] -> Initiator : Ack; Initiator -> Observer : Finished",
        "        }",
        " Abort -> { Initiator -> Guardian[*] : AbortCeremony",
        "            Initiator -> Observer : Cancelled }",
        "  }",
        "Observer -> Initiator : Seen",
        "}",
    ]);
    assert_eq!(projection(&src), CEREMONY);
}

#[test]
fn nested_braces() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of {",
        "    Commit -> {",
        "      A -> B : C1",
        "      case choose A of { X -> A -> B : J; Y -> { A -> B : K } }",
        "    }",
        "    Abort -> { A -> B : Ab }",
        "  }",
        "  B -> A : Fin",
    ]);
    assert_eq!(
        projection(&src),
        "A: +{Abort: !B.Ab, Commit: !B.C1; +{X: !B.J, Y: !B.K}}; ?B.Fin; end\n\
         B: &{?A.Ab, ?A.C1; &{?A.J, ?A.K}}; !A.Fin; end\n"
    );
}

#[test]
fn braces_for_loop_and_for_bodies() {
    let src = lines(&[
        "protocol P =",
        "  roles Coordinator, Workers[N]",
        "  @parallel",
        "  for w in Workers {",
        "    Coordinator -> Workers[w] : Task",
        "    Workers[w] -> Coordinator : Result",
        "  }",
        "  loop repeat 2 { Coordinator -> Workers[*] : Tick }",
    ]);
    assert_eq!(
        projection(&src),
        "Coordinator: foreach Workers {!Workers[w].Task; ?Workers[w].Result}; repeat 2 {!Workers[*].Tick}; end\n\
         Workers: ?Coordinator.Task; !Coordinator.Result; repeat 2 {?Coordinator.Tick}; end\n"
    );
}

#[test]
fn unbalanced_braces_are_syntax_errors() {
    // An explicit block is closed only by `}`: a dedent does not close it, so
    // the file ends too early (reported just after its last token).
    let unclosed = lines(&[
        "protocol P =",
        "  roles A, B",
        "  loop repeat 2 {",
        "    A -> B : M",
        "  B -> A : N",
    ]);
    rejected_at(&unclosed, Code::Syntax, 5, 13);
    // An indented block is closed only by a dedent: a `}` does not close it.
    let stray = lines(&[
        "protocol P =",
        "  roles A, B",
        "  loop repeat 2",
        "    A -> B : M }",
        "  B -> A : N",
    ]);
    rejected_at(&stray, Code::Syntax, 4, 16);
    let stray_line = lines(&["protocol P =", "  roles A, B", "  A -> B : M", "}"]);
    rejected_at(&stray_line, Code::Syntax, 4, 1);
}

#[test]
fn braces_and_indentation_give_the_same_projection() {
    let braces = lines(&[
        "protocol Ceremony =",
        "  roles Initiator, Guardian[N], Observer",
        "  Initiator -> Guardian[*] : Propose",
        "  case choose Initiator of {",
        "    Commit -> { Initiator -> Guardian[*] : CommitCeremony; Guardian[*] -> Initiator : Ack; Initiator -> Observer : Finished }",
        "    Abort -> { Initiator -> Guardian[*] : AbortCeremony; Initiator -> Observer : Cancelled }",
        "  }",
        "  Observer -> Initiator : Seen",
    ]);
    assert_eq!(projection(&braces), projection(&ceremony_indented()));
}

// ---- Comments and blank lines -------------------------------------------------

#[test]
fn comment_and_blank_lines_never_open_or_close_blocks() {
    let src = lines(&[
        "-- leading comment",
        "{- block comment",
        "   before the protocol -}",
        "protocol P =",
        "      -- comment deeper than the roles line, before it",
        "  roles A, B, C",
        "",
        "      -- comment deeper than the block",
        "  A -> B : Start",
        "-- comment at column 1 inside the body",
        "  case choose A of",
        " -- comment at column 2",
        "",
        "    Commit ->   -- trailing comment after a header",
        "        {- block comment, deeper than the branch body -}",
        "      A -> B : Go",
        "   {- comment at column 4,",
        "spanning lines, one at column 1 -}",
        "      ",
        "      B -> C : Go",
        "",
        "    Abort ->",
        "      A -> B : Stop",
        "      {- nested {- comment -} still a comment -}",
        "--",
        "      B -> C : Stop",
        "  C -> A : Fin   {- trailing block comment -}",
        "-- trailing comment at the end of the file",
    ]);
    assert_eq!(
        projection(&src),
        "A: !B.Start; +{Abort: !B.Stop, Commit: !B.Go}; ?C.Fin; end\n\
         B: ?A.Start; &{?A.Go; !C.Go, ?A.Stop; !C.Stop}; end\n\
         C: &{?B.Go, ?B.Stop}; !A.Fin; end\n"
    );
}

#[test]
fn comments_inside_a_line() {
    let src = lines(&[
        "protocol P = -- the header",
        "  roles A, {- the second role -} B",
        "  A {- sender -} -> B : M(crate::M) -- a message",
        "  B -> A : {- label -} N",
    ]);
    assert_eq!(projection(&src), "A: !B.M; ?B.N; end\nB: ?A.M; !A.N; end\n");
}

#[test]
fn comment_line_between_attribute_and_statement() {
    let src = lines(&[
        "protocol P =",
        "  roles Coordinator, Workers[N]",
        "  @parallel",
        "  -- the attribute applies to the next statement",
        "",
        "  Coordinator -> Workers[*] : Task",
    ]);
    let p = only_protocol(&src);
    match &p.body[0] {
        Stmt::Message(m) => assert!(m.parallel, "`@parallel` applies across a comment line"),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn comment_only_file_body_lines_in_braces() {
    let src = lines(&[
        "protocol P = {",
        "  -- a comment line inside braces is not a statement",
        "  roles A, B",
        "  {- neither is a block comment -}",
        "",
        "  A -> B : M",
        "  -- nor a comment before the closing brace",
        "}",
    ]);
    assert_eq!(projection(&src), "A: !B.M; end\nB: ?A.M; end\n");
}

// ---- End of file ----------------------------------------------------------------

#[test]
fn file_without_trailing_newline() {
    let src = "protocol P =\n  roles A, B\n  case choose A of\n    X ->\n      A -> B : M\n    Y ->\n      A -> B : N";
    assert_eq!(
        projection(src),
        "A: +{X: !B.M, Y: !B.N}; end\nB: &{?A.M, ?A.N}; end\n"
    );
}

#[test]
fn file_ending_in_a_comment_without_newline() {
    let base = "protocol P =\n  roles A, B\n  loop repeat 2\n    A -> B : M";
    for tail in [
        "",
        " -- done",
        "\n-- done",
        "\n  {- done -}",
        "\n\n\n",
        "\n   ",
    ] {
        let src = format!("{base}{tail}");
        assert_eq!(
            projection(&src),
            "A: repeat 2 {!B.M}; end\nB: repeat 2 {?A.M}; end\n",
            "tail {tail:?}"
        );
    }
}

#[test]
fn diagnostics_in_a_file_without_trailing_newline() {
    rejected_at(
        "protocol P =\n  roles A, B\n  A -> B : M\n  B -> C : N",
        Code::UndeclaredRole,
        4,
        8,
    );
    rejected_at(
        "protocol P =\n  roles A, B\n  A -> B : M\n  B -> A :",
        Code::Syntax,
        4,
        11,
    );
}

// ---- Line endings and byte-order mark -------------------------------------------

fn crlf(src: &str) -> String {
    src.replace('\n', "\r\n")
}

#[test]
fn crlf_gives_the_same_projection_as_lf() {
    let sources = [
        ceremony_indented(),
        lines(&[
            "-- comment",
            "protocol P =",
            "  roles A, B, C",
            "  A[flow_cost = 1,",
            "    journal_facts = \"F\"] -> B : Start",
            "  case choose A of",
            "    Commit ->",
            "      A -> B : Go",
            "      B -> C : Go",
            "    Abort ->",
            "      {- block",
            "         comment -}",
            "      A -> B : Stop",
            "      B -> C : Stop",
            "  C -> A : Fin",
        ]),
    ];
    for lf in sources {
        let expected = projection(&lf);
        assert_eq!(projection(&crlf(&lf)), expected, "CRLF:\n{lf}");
        // Without the final line break too.
        let trimmed = crlf(lf.trim_end());
        assert_eq!(projection(&trimmed), expected);
    }
}

#[test]
fn mixed_line_endings_are_accepted() {
    let src = "protocol P =\r\n  roles A, B\n  A -> B : M\r\n  B -> A : N\n";
    assert_eq!(projection(src), "A: !B.M; ?B.N; end\nB: ?A.M; !A.N; end\n");
}

#[test]
fn crlf_diagnostics_point_at_the_real_column() {
    let src = crlf(&lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
        "  A[flow_cost = -3] -> C : N",
    ]));
    let unit = compile("crlf.choreo", src.as_bytes());
    let got: Vec<(usize, usize, Code)> = unit
        .diagnostics
        .iter()
        .map(|d| {
            let lc = unit.file.line_col(d.primary.span.start);
            (lc.line, lc.column, d.code)
        })
        .collect();
    assert_eq!(
        got,
        vec![(4, 17, Code::NegativeCost), (4, 24, Code::UndeclaredRole)],
        "{}",
        listing(&unit)
    );
}

#[test]
fn lone_carriage_return_is_rejected() {
    rejected_at("protocol P =\r  roles A, B\n", Code::BadChar, 1, 13);
}

#[test]
fn byte_order_mark_is_skipped() {
    let src = "\u{FEFF}protocol P =\n  roles A, B\n  A -> B : M\n";
    assert_eq!(projection(src), "A: !B.M; end\nB: ?A.M; end\n");
    // Columns on the first line do not count the mark.
    rejected_at(
        "\u{FEFF}protocol = \n  roles A, B\n  A -> B : M\n",
        Code::Syntax,
        1,
        10,
    );
}

// ---- Lines wrapped inside brackets ----------------------------------------------

#[test]
fn wrapped_annotation_lists() {
    let src = lines(&[
        "protocol P =",
        "  roles Sender, Receiver",
        "  Sender[guard_capability = \"invitation:send\",",
        "         flow_cost = 1,",
        "         journal_facts = \"InvitationFact::Sent\"] -> Receiver : Offer(crate::Offer)",
        "  Receiver[",
        "    leakage_budget = [1,",
        "      1, 0],",
        "  -- a comment inside the list",
        "leak = \"External,Neighbor\",",
        "",
        "    ] -> Sender : Reply(data: Vec<u8>,",
        "                        code: u32)",
        "  Sender -> Receiver : Ack",
    ]);
    assert_eq!(
        projection(&src),
        "Sender: !Receiver.Offer; ?Receiver.Reply; !Receiver.Ack; end\n\
         Receiver: ?Sender.Offer; !Sender.Reply; ?Sender.Ack; end\n"
    );
    let p = only_protocol(&src);
    let Stmt::Message(offer) = &p.body[0] else {
        panic!("expected a message")
    };
    let a = offer.from_annotations.as_ref().expect("annotations");
    assert_eq!(a.guard_capability, vec!["invitation:send".to_string()]);
    assert_eq!(a.flow_cost, Some(1));
    assert_eq!(a.journal_facts.as_deref(), Some("InvitationFact::Sent"));
    let Stmt::Message(reply) = &p.body[1] else {
        panic!("expected a message")
    };
    let a = reply.from_annotations.as_ref().expect("annotations");
    assert_eq!(a.leakage_budget, Some([1, 1, 0]));
    assert_eq!(a.leak.as_deref(), Some("External,Neighbor"));
    assert_eq!(
        reply.payload,
        choreoc::check::model::Payload::Fields(vec![
            ("data".into(), "Vec<u8>".into()),
            ("code".into(), "u32".into()),
        ])
    );
}

#[test]
fn wrapped_annotations_with_index_inside_a_branch() {
    let src = lines(&[
        "protocol P =",
        "  roles Initiator, Guardian[N]",
        "  case choose Initiator of",
        "    Commit ->",
        "      Initiator[guard_capability = \"ceremony:commit\",",
        "flow_cost = 2] -> Guardian[*] : Commit",
        "      Guardian[*][guard_capability = \"respond\",",
        "                  flow_cost = 200] -> Initiator : Respond(crate::Response)",
        "    Abort ->",
        "      Initiator -> Guardian[*] : Abort",
    ]);
    assert_eq!(
        projection(&src),
        "Initiator: +{Abort: !Guardian[*].Abort, Commit: !Guardian[*].Commit; ?Guardian[*].Respond}; end\n\
         Guardian: &{?Initiator.Abort, ?Initiator.Commit; !Initiator.Respond}; end\n"
    );
}

#[test]
fn line_break_after_annotations_is_unexpected_indent() {
    // The line that starts with `->` is not inside brackets: it is a new,
    // deeper line, which no block header introduces. Without annotations the
    // compiler says so (E0008); with them it must say the same.
    let without = lines(&["protocol P =", "  roles A, B", "  A", "    -> B : M"]);
    rejected_at(&without, Code::UnexpectedIndent, 4, 5);
    let with = lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  Guardian[*][guard_capability = \"respond\",",
        "              flow_cost = 200]",
        "    -> A : Respond(crate::Response)",
    ]);
    rejected_at(&with, Code::UnexpectedIndent, 5, 5);
}

#[test]
fn wrapped_exposing_list_and_attribute_arguments() {
    let src = lines(&[
        "module m exposing (",
        "  First,",
        "    Second",
        ")",
        "",
        "protocol First =",
        "  roles A, B",
        "  @trace(",
        "    \"first\",",
        "    1)",
        "  A -> B : M",
        "",
        "protocol Second =",
        "  roles A, B",
        "  B -> A : N",
    ]);
    let unit = compile("wrapped.choreo", src.as_bytes());
    let codes: Vec<Code> = unit.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::UnknownAttribute], "{}", listing(&unit));
    let module = unit.module.as_ref().expect("module");
    let names: Vec<&str> = module.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["First", "Second"]);
    assert!(module.protocols.iter().all(|p| p.exposed));
}

// ---- Several protocols; synonyms ---------------------------------------------------

#[test]
fn protocols_end_at_column_one() {
    let src = lines(&[
        "module pair exposing (Ping)",
        "",
        "protocol Ping =",
        "  roles A, B",
        "  A -> B : Ping",
        "    -- a deeper comment does not reopen anything",
        "protocol Pong =",
        "    roles C, D",
        "    choice at C",
        "        Yes -> C -> D : Yes",
        "        No ->",
        "            C -> D : No",
    ]);
    assert_eq!(
        projection(&src),
        "A: !B.Ping; end\nB: ?A.Ping; end\n\
         C: +{No: !D.No, Yes: !D.Yes}; end\nD: &{?C.No, ?C.Yes}; end\n"
    );
    let unit = compile("pair.choreo", src.as_bytes());
    let module = unit.module.expect("module");
    assert_eq!(module.name, "pair");
    let exposed: Vec<bool> = module.protocols.iter().map(|p| p.exposed).collect();
    assert_eq!(exposed, vec![true, false]);
}

#[test]
fn loop_decide_by_in_layout() {
    let src = lines(&[
        "protocol P =",
        "  roles Coordinator, Worker",
        "  loop decide by Coordinator",
        "    Coordinator -> Worker : Task",
        "",
        "    -- the worker answers",
        "    Worker -> Coordinator : Result",
        "  Coordinator -> Worker : Bye",
    ]);
    assert_eq!(
        projection(&src),
        "Coordinator: mu L1. +{Continue: !Worker.Task; ?Worker.Result; L1, Done: !Worker.Done}; !Worker.Bye; end\n\
         Worker: mu L1. &{?Coordinator.Done, ?Coordinator.Task; !Coordinator.Result; L1}; ?Coordinator.Bye; end\n"
    );
}

#[test]
fn comment_markers_inside_strings_are_text() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[audit_log = \"a -- b {- c\", leak = \"x -} y\"] -> B : M",
        "  B -> A : N",
    ]);
    assert_eq!(projection(&src), "A: !B.M; ?B.N; end\nB: ?A.M; !A.N; end\n");
    let p = only_protocol(&src);
    let Stmt::Message(m) = &p.body[0] else {
        panic!("expected a message")
    };
    let a = m.from_annotations.as_ref().expect("annotations");
    assert_eq!(a.audit_log.as_deref(), Some("a -- b {- c"));
    assert_eq!(a.leak.as_deref(), Some("x -} y"));
}
