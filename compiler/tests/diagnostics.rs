//! One failing input per diagnostic code, each checked for its code and for
//! the exact `line:column` of its primary label.
//!
//! Every case is one entry of the `cases!` table below: a test name, the
//! expected code, the expected position, and the source as a list of lines
//! (joined with `\n`, with a trailing newline), so that the line of the
//! expected position is the index of the line in the list, plus one.
//! `every_code_has_a_case` fails when a code of `Code::ALL` has no entry, so a
//! new code must come with a test here.

mod common;
use choreoc::diag::{Code, Diagnostic};
use choreoc::driver::{compile, Unit};
use common::listing;

/// The source made of `lines`, each ended by a line feed.
fn lines(lines: &[&str]) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Compiles `src` (which must not panic) and returns the unit.
fn run(src: impl AsRef<[u8]>) -> Unit {
    compile("case.choreo", src.as_ref())
}

/// Asserts that `src` reports `code`, and that the first diagnostic with that
/// code has its primary label at `line:col`.
fn expect(code: Code, line: usize, col: usize, src: impl AsRef<[u8]>) {
    let src = src.as_ref();
    let unit = run(src);
    let found: Vec<&Diagnostic> = unit.diagnostics.iter().filter(|d| d.code == code).collect();
    let text = String::from_utf8_lossy(src);
    let Some(first) = found.first() else {
        panic!(
            "expected {} at {line}:{col}, but it was not reported.\nsource:\n{text}\ndiagnostics:\n{}",
            code.as_str(),
            listing(&unit)
        );
    };
    let at = unit.file.line_col(first.primary.span.start);
    assert_eq!(
        (at.line, at.column),
        (line, col),
        "{} reported at the wrong position.\nsource:\n{text}\ndiagnostics:\n{}",
        code.as_str(),
        listing(&unit)
    );
    if code.severity() == choreoc::diag::Severity::Error {
        assert!(unit.has_errors());
    }
}

macro_rules! cases {
    ($( $(#[$meta:meta])* $name:ident : $code:ident at $line:literal : $col:literal => $src:expr ; )*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                expect(Code::$code, $line, $col, $src);
            }
        )*

        /// Every case of the table: (test name, code).
        const TABLE: &[(&str, Code)] = &[ $( (stringify!($name), Code::$code), )* ];
    };
}

/// `depth` opening parentheses in a payload: too deep for the layout pass.
fn deep_parens(depth: usize) -> String {
    format!(
        "protocol P =\n  roles A, B\n  A -> B : M{}\n",
        "(".repeat(depth)
    )
}

/// `depth` nested block comments on one line.
fn deep_comments(depth: usize) -> String {
    format!(
        "protocol P =\n  roles A, B\n  A -> B : M\n  {}\n",
        "{- ".repeat(depth)
    )
}

/// `depth` nested explicit blocks: a chain of one-branch choices.
fn deep_braces(depth: usize) -> String {
    let mut s = String::from("protocol P =\n  roles A, B\n  ");
    for _ in 0..depth {
        s.push_str("case choose A of { X -> { ");
    }
    s.push_str("A -> B : M");
    for _ in 0..depth {
        s.push_str(" } }");
    }
    s.push('\n');
    s
}

cases! {
    // ---- E0001: syntax -----------------------------------------------------
    e0001_missing_colon: Syntax at 3:10 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B M",
    ]);
    e0001_missing_arrow: Syntax at 3:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A B : M",
    ]);
    e0001_truncated_after_colon: Syntax at 3:11 => "protocol P =\n  roles A, B\n  A -> B :";
    e0001_truncated_after_arrow_in_branch: Syntax at 5:11 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    Commit ->",
        "      A ->",
    ]);
    e0001_truncated_in_annotation_list: Syntax at 3:19 => "protocol P =\n  roles A, B\n  A[flow_cost = 1,";
    e0001_truncated_header: Syntax at 1:11 => "protocol P";
    e0001_missing_protocol_name: Syntax at 1:10 => lines(&[
        "protocol = ",
        "  roles A, B",
        "  A -> B : M",
    ]);
    e0001_roles_not_first: Syntax at 2:3 => lines(&[
        "protocol P =",
        "  A -> B : M",
        "  roles A, B",
    ]);
    e0008_protocol_not_in_column_1: UnexpectedIndent at 1:3 => lines(&[
        "  protocol P =",
        "    roles A, B",
        "    A -> B : M",
    ]);
    e0001_case_without_of: Syntax at 3:16 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A",
        "    Yes ->",
        "      A -> B : Y",
    ]);
    e0001_protocol_without_equals: Syntax at 1:11 => lines(&[
        "protocol P",
        "  roles A, B",
        "  A -> B : Y",
    ]);
    e0001_branch_without_arrow: Syntax at 4:8 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    Yes",
        "      A -> B : Y",
    ]);
    e0001_garbage_text: Syntax at 1:1 => "%%%% this is not a protocol %%%%\n";
    e0001_message_without_label: Syntax at 5:13 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    Commit ->",
        "      A -> B",
        "    Abort -> {}",
    ]);
    e0001_stray_closing_brace: Syntax at 3:14 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M }",
    ]);

    // ---- E0002: tab in indentation ----------------------------------------
    e0002_tab_at_line_start: TabIndent at 3:1 => "protocol P =\n  roles A, B\n\tA -> B : M\n";
    e0002_tab_after_spaces: TabIndent at 3:2 => "protocol P =\n  roles A, B\n \tA -> B : M\n";
    e0002_tab_in_branch_body: TabIndent at 5:5 => concat!(
        "protocol P =\n",
        "  roles A, B\n",
        "  case choose A of\n",
        "    Commit ->\n",
        "    \t  A -> B : C\n",
    );

    // ---- E0003: dedent to no open column ----------------------------------
    e0003_dedent_between_branches: BadDedent at 6:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "      Commit ->",
        "        A -> B : C",
        "    Abort ->",
        "      A -> B : D",
    ]);
    e0003_dedent_in_protocol_body: BadDedent at 4:2 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
        " B -> A : N",
    ]);

    // ---- E0004: nesting too deep ------------------------------------------
    e0004_deep_parentheses: TooDeep at 3:268 => deep_parens(300);
    e0004_deep_indentation: TooDeep at 259:515 => nested_loops(257);
    e0004_deep_block_comments: TooDeep at 4:768 => deep_comments(300);
    e0004_deep_braces: TooDeep at 3:3329 => deep_braces(200);

    // ---- E0005: not text ---------------------------------------------------
    e0005_control_character: BadChar at 3:13 => "protocol P =\n  roles A, B\n  A -> B : M\u{7}\n";
    e0005_binary_elf_header: BadChar at 1:1 => b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00";
    e0005_invalid_utf8: BadChar at 2:10 => b"protocol P =\n  roles A\xff\xfe, B\n";
    e0005_nul_byte: BadChar at 3:8 => b"protocol P =\n  roles A, B\n  A -> \x00 : M\n";
    e0005_lone_carriage_return: BadChar at 1:13 => "protocol P =\r  roles A, B\r  A -> B : M\r";
    e0005_non_ascii_in_a_name: BadChar at 3:4 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  Ré -> B : M",
    ]);
    e0005_control_character_in_comment: BadChar at 3:10 => "protocol P =\n  roles A, B\n  -- bad \u{1b} escape\n  A -> B : M\n";

    // ---- E0006: unterminated string ---------------------------------------
    e0006_unterminated_annotation_string: UnterminatedString at 3:24 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[guard_capability = \"invitation:send] -> B : M",
    ]);
    e0006_string_cut_by_end_of_file: UnterminatedString at 3:17 => "protocol P =\n  roles A, B\n  A[audit_log = \"a.b";
    e0006_escaped_quote_does_not_close: UnterminatedString at 3:17 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[audit_log = \"say \\\"hi\\\"] -> B : M",
    ]);

    // ---- E0007: unterminated block comment --------------------------------
    e0007_unterminated_block_comment: UnterminatedComment at 4:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
        "  {- this comment is never closed",
        "  B -> A : N",
    ]);
    e0007_unclosed_nested_comment: UnterminatedComment at 3:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  {- outer {- inner -} still open",
        "  A -> B : M",
    ]);

    // ---- E0008: unexpected indentation ------------------------------------
    e0008_indented_continuation: UnexpectedIndent at 4:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
        "    B -> A : N",
    ]);
    e0008_indented_after_roles: UnexpectedIndent at 3:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "    A -> B : M",
    ]);

    // ---- E0009: integer too large -----------------------------------------
    e0009_flow_cost_too_large: NumberTooLarge at 3:17 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cost = 99999999999999999999] -> B : M",
    ]);
    e0009_family_size_too_large: NumberTooLarge at 2:14 => lines(&[
        "protocol P =",
        "  roles A, W[99999999999999999999]",
        "  A -> W[*] : M",
    ]);
    e0009_index_too_large: NumberTooLarge at 3:10 => lines(&[
        "protocol P =",
        "  roles A, W[*]",
        "  A -> W[18446744073709551616] : M",
    ]);

    // ---- E0101: undeclared role -------------------------------------------
    e0101_undeclared_receiver: UndeclaredRole at 3:8 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> C : M",
    ]);
    e0101_undeclared_in_branch: UndeclaredRole at 7:7 => lines(&[
        "protocol Invitation =",
        "  roles Sender, Receiver",
        "  Sender -> Receiver : Offer",
        "  case choose Sender of",
        "    Confirm ->",
        "      Sender -> Receiver : Ack",
        "      Auditor -> Sender : Seen",
        "    Withdraw ->",
        "      Sender -> Receiver : Withdrawn",
    ]);
    e0101_undeclared_family_in_for: UndeclaredRole at 3:12 => lines(&[
        "protocol P =",
        "  roles Coordinator, Workers[3]",
        "  for w in Worker",
        "    Coordinator -> Workers[w] : Task",
    ]);
    e0101_undeclared_decider: UndeclaredRole at 3:18 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  loop decide by Coordinator",
        "    A -> B : Ping",
    ]);
    e0101_undeclared_chooser: UndeclaredRole at 3:15 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose a of",
        "    X ->",
        "      A -> B : M",
    ]);
    e0101_undeclared_with_annotations: UndeclaredRole at 3:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  Guardian[*][guard_capability = \"respond\", flow_cost = 200] -> A : Respond(crate::Response)",
    ]);

    e0101_column_counts_characters_not_bytes: UndeclaredRole at 3:29 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[audit_log = \"héllo\"] -> C : M",
    ]);

    // ---- E0102: duplicate role --------------------------------------------
    e0102_duplicate_role: DuplicateRole at 2:15 => lines(&[
        "protocol P =",
        "  roles A, B, A",
        "  A -> B : M",
    ]);
    e0102_duplicate_family: DuplicateRole at 2:25 => lines(&[
        "protocol P =",
        "  roles Guardian[N], A, Guardian[3]",
        "  A -> Guardian[*] : M",
    ]);

    // ---- E0103: duplicate protocol ----------------------------------------
    e0103_duplicate_protocol: DuplicateProtocol at 5:10 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
        "",
        "protocol P =",
        "  roles C, D",
        "  C -> D : M",
    ]);

    // ---- E0104: unknown export --------------------------------------------
    e0104_unknown_export: UnknownExport at 1:23 => lines(&[
        "module m exposing (P, Q)",
        "",
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
    ]);

    // ---- E0105: no protocol -----------------------------------------------
    e0105_module_without_protocol: NoProtocol at 1:1 => lines(&[
        "module m exposing ()",
    ]);
    e0105_empty_file: NoProtocol at 1:1 => "";
    e0105_comments_only: NoProtocol at 1:1 => lines(&[
        "-- nothing here yet",
        "{- still",
        "   nothing -}",
    ]);

    // ---- E0201: self-send -------------------------------------------------
    e0201_role_sends_to_itself: SelfSend at 3:8 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> A : M",
        "  A -> B : N",
    ]);
    e0201_family_to_every_member: SelfSend at 3:11 => lines(&[
        "protocol P =",
        "  roles W[N]",
        "  W[*] -> W[*] : Gossip",
    ]);
    e0201_member_in_range: SelfSend at 3:11 => lines(&[
        "protocol P =",
        "  roles W[4]",
        "  W[1] -> W[0..2] : M",
    ]);
    e0201_index_variable_to_itself: SelfSend at 4:20 => lines(&[
        "protocol P =",
        "  roles Guardian[N]",
        "  for i in Guardian",
        "    Guardian[i] -> Guardian[i] : Note",
    ]);

    // ---- E0301: index on a single role ------------------------------------
    e0301_index_on_single_role: IndexOnSingle at 3:4 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[0] -> B : M",
    ]);
    e0301_star_on_single_role: IndexOnSingle at 3:9 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B[*][flow_cost = 1] : M",
    ]);

    // ---- E0302: constant index out of range -------------------------------
    e0302_index_equal_to_size: IndexOutOfRange at 3:9 => lines(&[
        "protocol P =",
        "  roles A, W[3]",
        "  A -> W[3] : M",
    ]);
    e0302_range_past_end: IndexOutOfRange at 3:4 => lines(&[
        "protocol P =",
        "  roles A, W[3]",
        "  W[1..4] -> A : M",
    ]);

    // ---- E0303: unbound index variable ------------------------------------
    e0303_unbound_index: UnboundIndex at 3:17 => lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  A -> Guardian[i] : M",
    ]);
    e0303_index_used_after_its_for: UnboundIndex at 5:12 => lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  for i in Guardian",
        "    A -> Guardian[i] : M",
        "  Guardian[i] -> A : N",
    ]);

    // ---- E0304: family without index --------------------------------------
    e0304_family_without_index: MissingIndex at 3:8 => lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  A -> Guardian : M",
    ]);
    e0304_family_chooser_without_index: MissingIndex at 3:15 => lines(&[
        "protocol P =",
        "  roles A, Participants[*]",
        "  case choose Participants of",
        "    Yes ->",
        "      Participants[*] -> A : Yes",
    ]);

    // ---- E0305: bad for ---------------------------------------------------
    e0305_for_over_single_role: BadFor at 3:12 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  for i in A",
        "    A -> B : M",
    ]);
    e0305_variable_of_other_family: BadFor at 4:12 => lines(&[
        "protocol P =",
        "  roles A, W[N], V[N]",
        "  for i in W",
        "    A -> V[i] : M",
    ]);
    e0305_nested_for_same_family: BadFor at 4:14 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  for i in W",
        "    for j in W",
        "      A -> W[j] : M",
    ]);
    e0305_shadowed_variable: BadFor at 4:9 => lines(&[
        "protocol P =",
        "  roles A, W[N], V[N]",
        "  for i in W",
        "    for i in V",
        "      A -> V[i] : M",
    ]);

    // ---- E0306: empty range -----------------------------------------------
    e0306_reversed_range: EmptyRange at 3:9 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  A -> W[2..1] : M",
    ]);
    e0306_equal_bounds: EmptyRange at 3:4 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  W[2..2] -> A : M",
    ]);

    // ---- E0307: member inside its own for ---------------------------------
    e0307_constant_member_in_for: MemberInOwnFor at 4:18 => lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  for i in Guardian",
        "    A -> Guardian[0] : M",
    ]);

    // ---- E0308: too many singled-out members ------------------------------
    e0308_huge_range: TooManyMembers at 3:3 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  A -> W[0..300] : M",
    ]);

    // ---- E0401: duplicate branch ------------------------------------------
    e0401_duplicate_branch: DuplicateBranch at 6:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    Commit ->",
        "      A -> B : C",
        "    Commit ->",
        "      A -> B : D",
    ]);
    e0401_duplicate_lowercase_label: DuplicateBranch at 5:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  choice at A",
        "    accept -> A -> B : Yes",
        "    accept -> {}",
    ]);

    // ---- E0402: case without branches -------------------------------------
    e0402_empty_branch_block: NoBranches at 4:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : M",
        "  case choose A of {}",
    ]);

    // ---- E0403: range as chooser ------------------------------------------
    e0403_range_chooses: BadChooser at 3:15 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  case choose W[0..2] of",
        "    Yes ->",
        "      W[0] -> A : Yes",
    ]);

    // ---- E0501: unknowable choice -----------------------------------------
    e0501_third_party_not_told: UnknowableChoice at 3:3 => lines(&[
        "protocol P =",
        "  roles A, B, C",
        "  case choose A of",
        "    Commit ->",
        "      A -> B : Go",
        "      B -> C : Go",
        "    Abort ->",
        "      A -> B : Stop",
    ]);
    e0501_same_label_twice: UnknowableChoice at 4:3 => lines(&[
        "protocol P =",
        "  roles Initiator, Guardian[N]",
        "  Initiator -> Guardian[*] : Propose",
        "  case choose Initiator of",
        "    Commit ->",
        "      Initiator -> Guardian[*] : Decision",
        "      Guardian[*] -> Initiator : Ack",
        "    Abort ->",
        "      Initiator -> Guardian[*] : Decision",
    ]);

    // ---- E0502: merged messages differ ------------------------------------
    e0502_sender_annotations_differ: MergedMessagesDiffer at 9:7 => lines(&[
        "protocol P =",
        "  roles A, C, D",
        "  case choose A of",
        "    Fast ->",
        "      A -> D : Fast",
        "      C[flow_cost = 3] -> D : Note",
        "    Slow ->",
        "      A -> D : Slow",
        "      C[flow_cost = 5] -> D : Note",
    ]);
    e0502_received_payload_differs: MergedMessagesDiffer at 9:7 => lines(&[
        "protocol P =",
        "  roles A, B, C",
        "  case choose A of",
        "    X ->",
        "      A -> B : X",
        "      B -> C : Note(u8)",
        "    Y ->",
        "      A -> B : Y",
        "      B -> C : Note(String)",
    ]);
    e0502_attributes_differ: MergedMessagesDiffer at 10:7 => lines(&[
        "protocol P =",
        "  roles A, B, W[N]",
        "  case choose A of",
        "    X ->",
        "      A -> W[*] : X",
        "      @parallel",
        "      B -> W[*] : Note",
        "    Y ->",
        "      A -> W[*] : Y",
        "      B -> W[*] : Note",
    ]);
    e0502_in_merged_alternatives: MergedMessagesDiffer at 17:7 => lines(&[
        "protocol P =",
        "  roles A, B, C, D",
        "  case choose A of",
        "    X ->",
        "      A -> B : X",
        "      A -> D : X",
        "      B -> C : P",
        "      C[flow_cost = 1] -> D : Note",
        "    Y ->",
        "      A -> B : Y",
        "      A -> D : Y",
        "      B -> C : Q",
        "    Z ->",
        "      A -> B : Z",
        "      A -> D : Z",
        "      B -> C : P",
        "      C[flow_cost = 2] -> D : Note",
    ]);

    // ---- E0601: chooser not first -----------------------------------------
    e0601_other_role_sends_first: ChooserNotFirst at 5:7 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    X ->",
        "      B -> A : M",
        "    Y ->",
        "      A -> B : N",
    ]);
    e0601_inline_branch: ChooserNotFirst at 4:16 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "    Abort -> { B -> A : M }",
        "    Commit -> A -> B : N",
    ]);

    // ---- E0602: family branch shape ---------------------------------------
    e0602_branch_with_unrelated_message: FamilyBranchShape at 6:7 => lines(&[
        "protocol P =",
        "  roles A, B, Participants[*]",
        "  case choose Participants[*] of",
        "    Yes ->",
        "      Participants[*] -> A : Yes",
        "      A -> B : Tally",
        "    No ->",
        "      Participants[*] -> A : No",
        "      A -> B : Tally",
    ]);

    // ---- E0701: bad decider -----------------------------------------------
    e0701_family_decides: BadDecider at 3:18 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  loop decide by W[*]",
        "    W[*] -> A : M",
    ]);

    // ---- E0702: decider absent --------------------------------------------
    e0702_decider_not_in_body: DeciderAbsent at 3:18 => lines(&[
        "protocol P =",
        "  roles A, B, C",
        "  loop decide by A",
        "    B -> C : M",
        "  A -> B : Hello",
    ]);

    // ---- E0703: reserved label --------------------------------------------
    e0703_continue_sent_by_decider: ReservedLabel at 4:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  loop decide by A",
        "    A -> B : Continue",
    ]);
    e0703_done_in_branch: ReservedLabel at 7:9 => lines(&[
        "protocol P =",
        "  roles Coordinator, Worker",
        "  loop decide by Coordinator",
        "    Coordinator -> Worker : Work",
        "    case choose Coordinator of",
        "      Stop ->",
        "        Coordinator -> Worker : Done",
        "      Go ->",
        "        Coordinator -> Worker : More",
    ]);

    // ---- E0704: family member decides over its family ---------------------
    e0704_member_decides_for_family: DeciderFamily at 4:5 => lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  loop decide by Guardian[0]",
        "    Guardian[*] -> A : Share",
    ]);

    // ---- E0801: annotation type -------------------------------------------
    e0801_flow_cost_string: AnnotationType at 3:17 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cost = \"ten\"] -> B : M",
    ]);
    e0801_journal_merge_int: AnnotationType at 3:26 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B[journal_merge = 1] : M",
    ]);
    e0801_guard_capability_list: AnnotationType at 3:24 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[guard_capability = [\"a\", \"b\"]] -> B : M",
    ]);
    e0801_budget_entry_string: AnnotationType at 3:26 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[leakage_budget = [1, \"2\", 3]] -> B : M",
    ]);

    // ---- E0802: negative cost ---------------------------------------------
    e0802_negative_flow_cost: NegativeCost at 3:17 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cost = -1] -> B : M",
    ]);
    e0802_negative_budget_entry: NegativeCost at 3:26 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[leakage_budget = [1, -2, 3]] -> B : M",
    ]);
    e0802_negative_cost_on_family: NegativeCost at 3:27 => lines(&[
        "protocol P =",
        "  roles A, Guardian[N]",
        "  Guardian[*][flow_cost = -200] -> A : Respond(crate::Response)",
    ]);

    // ---- E0803: budget shape ----------------------------------------------
    e0803_two_entries: BudgetShape at 3:22 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[leakage_budget = [1, 2]] -> B : M",
    ]);
    e0803_empty_list: BudgetShape at 3:22 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[leakage_budget = []] -> B : M",
    ]);

    // ---- E0804: duplicate annotation --------------------------------------
    e0804_duplicate_key: DuplicateAnnotation at 3:20 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cost = 1, flow_cost = 2] -> B : M",
    ]);
    e0805_leak_over_budget: LeakOverBudget at 3:12 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[leak = \"External,Neighbor\", leakage_budget = [0, 1, 1]] -> B : Hello",
    ]);
    e0805_counted_leak_over_budget: LeakOverBudget at 3:12 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[leak = \"neighbor:3\", leakage_budget = [0, 2, 0]] -> B : Hello",
    ]);

    e0806_misspelled_flow_cost: MisspelledAnnotation at 3:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cst = 3] -> B : Hello",
    ]);
    e0806_known_key_in_another_case: MisspelledAnnotation at 3:5 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[Guard_Capability = \"x\"] -> B : Hello",
    ]);

    // ---- W0901: unused role -----------------------------------------------
    w0901_unused_role: UnusedRole at 2:15 => lines(&[
        "protocol P =",
        "  roles A, B, C",
        "  A -> B : M",
    ]);

    // ---- W0902: unknown annotation ----------------------------------------
    w0902_unknown_annotation: UnknownAnnotation at 3:20 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cost = 1, priority = \"high\"] -> B : M",
    ]);

    // ---- W0903: unknown attribute -----------------------------------------
    w0903_unknown_attribute: UnknownAttribute at 3:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  @retry(3)",
        "  A -> B : M",
    ]);

    // ---- W0904: useless attribute -----------------------------------------
    w0904_parallel_on_single_send: UselessAttribute at 3:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  @parallel",
        "  A -> B : M",
    ]);
    w0904_parallel_on_case: UselessAttribute at 3:3 => lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  @parallel",
        "  case choose A of",
        "    X -> A -> W[*] : M",
        "    Y -> A -> W[*] : N",
    ]);

    // ---- W0905: unreachable -----------------------------------------------
    w0905_after_loop_forever: Unreachable at 5:3 => lines(&[
        "protocol P =",
        "  roles A, B",
        "  loop forever",
        "    A -> B : Tick",
        "  B -> A : Never",
    ]);
}

#[test]
fn e0502_not_reported_for_messages_written_alike() {
    // The same annotations in another order and the same payload spaced
    // otherwise are the same message: it merges without an error.
    let unit = run(lines(&[
        "protocol P =",
        "  roles A, C, D",
        "  case choose A of",
        "    Fast ->",
        "      A -> D : Fast",
        "      C[flow_cost = 3, guard_capability = \"a,b\"] -> D : Note(Vec<u8>)",
        "    Slow ->",
        "      A -> D : Slow",
        "      C[guard_capability = \"b,a\", flow_cost = 3] -> D : Note(Vec< u8 >)",
    ]));
    assert!(unit.diagnostics.is_empty(), "{}", listing(&unit));
}

#[test]
fn e0502_is_reported_once_per_pair_of_statements() {
    // Sender and receiver both merge the differing payloads: one error.
    let unit = run(lines(&[
        "protocol P =",
        "  roles A, B, C, D",
        "  case choose A of",
        "    X ->",
        "      A -> D : X",
        "      B -> C : Note(u8)",
        "    Y ->",
        "      A -> D : Y",
        "      B -> C : Note(u16)",
    ]));
    let found = unit
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::MergedMessagesDiffer)
        .count();
    assert_eq!(found, 1, "{}", listing(&unit));
}

#[test]
fn every_code_has_a_case() {
    // The audit manifest's codes (E10xx) are tested in tests/audit.rs, those
    // of `fmt` (E11xx) in tests/fmt.rs and of `breaking` (x12xx) in
    // tests/breaking.rs and tests/evolution_cli.rs.
    let elsewhere = ["E10", "E11", "E12", "W12"];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !elsewhere.iter().any(|p| c.as_str().starts_with(p)))
        .filter(|c| !TABLE.iter().any(|(_, t)| t == *c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a case in tests/diagnostics.rs: {missing:?}"
    );
}

#[test]
fn case_names_match_their_codes() {
    for (name, code) in TABLE {
        let prefix = code.as_str().to_ascii_lowercase();
        assert!(
            name.starts_with(&prefix),
            "case `{name}` tests {}, but is named for another code",
            code.as_str()
        );
    }
}

// ---- Inputs that must be rejected with a diagnostic, never a panic ---------

/// Asserts that `src` is rejected with at least one error diagnostic whose
/// position lies within the text (or just past its end).
fn rejected(src: &[u8]) -> Unit {
    let unit = run(src);
    assert!(
        unit.has_errors(),
        "expected an error for {:?}, got:\n{}",
        String::from_utf8_lossy(src),
        listing(&unit)
    );
    for d in &unit.diagnostics {
        assert!(
            d.primary.span.start <= unit.file.text().len(),
            "label past the end of the text: {d:?}"
        );
    }
    unit
}

#[test]
fn binary_garbage_is_rejected() {
    let mut bytes: Vec<u8> = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x >> 24) as u8);
    }
    rejected(&bytes);
    rejected(b"\x00\x00\x00\x00");
    rejected(&[0xff; 64]);
    rejected(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
}

#[test]
fn truncated_protocol_files_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocols");
    let mut files: Vec<_> = walk(std::path::Path::new(dir));
    files.sort();
    assert!(!files.is_empty(), "no .choreo files under {dir}");
    for path in &files {
        let bytes = std::fs::read(path).expect("readable protocol file");
        // Cut at every line end and at a spread of other offsets, including
        // the middle of statements and of multi-byte characters.
        let mut cuts: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        cuts.extend((0..bytes.len()).step_by(37));
        for cut in cuts {
            let unit = run(&bytes[..cut]);
            for d in &unit.diagnostics {
                assert!(
                    d.primary.span.start <= cut,
                    "{}: cut at {cut}: {d:?}",
                    path.display()
                );
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("protocols directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "choreo") {
            out.push(path);
        }
    }
    out
}

#[test]
fn truncated_mid_statement_is_rejected() {
    let full = "protocol P =\n  roles A, B\n  A[flow_cost = 5] -> B : Offer(crate::Offer)\n";
    let cut_points = [
        "protocol P =\n  roles A, B\n  A[",
        "protocol P =\n  roles A, B\n  A[flow_cost",
        "protocol P =\n  roles A, B\n  A[flow_cost = 5] -",
        "protocol P =\n  roles A, B\n  A[flow_cost = 5] -> B : Offer(",
        "protocol P =\n  roles A, B\n  A[flow_cost = 5] -> B : Offer(crate::",
        "protocol P =\n  roles A,",
        "protocol P =\n",
        "protocol P =",
        "module m exposing (",
    ];
    assert!(!run(full).has_errors(), "{}", listing(&run(full)));
    for src in cut_points {
        let unit = rejected(src.as_bytes());
        assert_eq!(
            unit.diagnostics[0].code,
            Code::Syntax,
            "{src:?}: {}",
            listing(&unit)
        );
    }
}

#[test]
fn unterminated_string_is_rejected_at_the_quote() {
    for (src, at) in [
        (
            "protocol P =\n  roles A, B\n  A[leak = \"External,Neighbor] -> B : M\n",
            (3, 12),
        ),
        (
            "protocol P =\n  roles A, B\n  @note(\"unfinished\n  A -> B : M\n",
            (3, 9),
        ),
        ("protocol P =\n  roles A, B\n  A[leak = \"", (3, 12)),
    ] {
        let unit = rejected(src.as_bytes());
        let d = &unit.diagnostics[0];
        assert_eq!(d.code, Code::UnterminatedString, "{}", listing(&unit));
        let lc = unit.file.line_col(d.primary.span.start);
        assert_eq!((lc.line, lc.column), at, "{src:?}");
    }
}

#[test]
fn unterminated_block_comment_is_rejected_at_its_start() {
    for (src, at) in [
        ("{-", (1, 1)),
        (
            "protocol P =\n  roles A, B\n  A -> B : M {- trailing",
            (3, 14),
        ),
        (
            "protocol P =\n  roles A, B\n  A -> B : M\n{- {- -}\n",
            (4, 1),
        ),
    ] {
        let unit = rejected(src.as_bytes());
        let d = &unit.diagnostics[0];
        assert_eq!(d.code, Code::UnterminatedComment, "{}", listing(&unit));
        let lc = unit.file.line_col(d.primary.span.start);
        assert_eq!((lc.line, lc.column), at, "{src:?}");
    }
}

#[test]
fn every_well_formedness_problem_is_reported() {
    // Rule 6 of the reference: in a file that parses, every problem is
    // reported, not only the first.
    let src = lines(&[
        "protocol P =",
        "  roles A, B, A",
        "  A -> C : M",
        "  A[flow_cost = -1] -> B : N",
        "  B -> B : O",
    ]);
    let unit = run(&src);
    let got: Vec<(usize, usize, &str)> = unit
        .diagnostics
        .iter()
        .map(|d| {
            let lc = unit.file.line_col(d.primary.span.start);
            (lc.line, lc.column, d.code.as_str())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 15, "E0102"),
            (3, 8, "E0101"),
            (4, 17, "E0802"),
            (5, 8, "E0201")
        ],
        "{}",
        listing(&unit)
    );
}

#[test]
fn clean_input_has_no_diagnostics() {
    let src = lines(&[
        "module invitation exposing (InvitationExchange)",
        "",
        "protocol InvitationExchange =",
        "  roles Sender, Receiver",
        "",
        "  Sender[guard_capability = \"invitation:send\", flow_cost = 1, journal_facts = \"InvitationFact::Sent\"] -> Receiver : InvitationOffer(crate::InvitationOffer)",
        "  Receiver -> Sender : InvitationResponse(crate::InvitationResponse)",
        "",
        "  case choose Sender of",
        "    Confirm ->",
        "      Sender -> Receiver : InvitationAck(crate::InvitationAck)",
        "    Withdraw ->",
        "      Sender -> Receiver : InvitationWithdrawn",
    ]);
    let unit = run(&src);
    assert!(unit.diagnostics.is_empty(), "{}", listing(&unit));
}

// ---- Nesting up to the limit compiles; past it is E0004, not a crash --------

/// A protocol whose blocks nest `depth` levels deep by indentation:
/// the body, then `depth - 1` nested loops.
fn nested_loops(depth: usize) -> String {
    let mut s = String::from("protocol P =\n  roles A, B\n");
    for k in 1..depth {
        s.push_str(&"  ".repeat(k));
        s.push_str("loop repeat 2\n");
    }
    s.push_str(&"  ".repeat(depth));
    s.push_str("A -> B : M\n");
    s
}

/// `levels` nested one-branch choices by indentation (two blocks each).
fn nested_cases(levels: usize) -> String {
    let mut s = String::from("protocol P =\n  roles A, B\n");
    for k in 0..levels {
        let ind = " ".repeat(2 + 4 * k);
        s.push_str(&format!("{ind}case choose A of\n{ind}  X ->\n"));
    }
    s.push_str(&" ".repeat(2 + 4 * levels));
    s.push_str("A -> B : M\n");
    s
}

/// Runs `f` on a thread with the default stack size of spawned threads
/// (2 MiB), as a build script or a test calling the library would.
fn on_default_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

#[test]
fn nesting_at_the_limit_is_accepted() {
    for src in [
        nested_loops(256),
        nested_cases(127),
        deep_braces(127),
        format!(
            "protocol P =\n  roles A, B\n  A -> B : M{}{}\n",
            "(".repeat(255),
            ")".repeat(255)
        ),
    ] {
        let unit = on_default_thread(move || run(src));
        assert!(!unit.has_errors(), "{}", listing(&unit));
        assert_eq!(unit.projections.len(), 1);
    }
}

// ---- The text of syntax errors ------------------------------------------------

/// Inputs with a syntax error at various places.
const SYNTAX_ERRORS: &[&str] = &[
    "protocol P",
    "protocol P =",
    "protocol P =\n  roles A, B\n  A -> B :",
    "protocol P =\n  roles A, B\n  A -> B M\n",
    "protocol P =\n  roles A, B\n  case choose A of\n    X ->\n      A -> B\n",
    "protocol P =\n  roles A, B\n  A[flow_cost = 1,",
    "module m exposing (P\n",
    "@parallel\n@parallel",
];

#[test]
fn syntax_errors_name_only_real_tokens() {
    for src in SYNTAX_ERRORS {
        let unit = run(src);
        let d = &unit.diagnostics[0];
        assert_eq!(d.code, Code::Syntax, "{src:?}: {}", listing(&unit));
        assert!(
            !d.message.contains("BUILTIN_RULE") && !d.message.contains("WHITE_SPACE"),
            "{src:?}: {}",
            d.message
        );
    }
}

#[test]
fn labels_stay_within_the_text() {
    for src in SYNTAX_ERRORS {
        let unit = run(src);
        for d in &unit.diagnostics {
            assert!(
                d.primary.span.start <= d.primary.span.end && d.primary.span.end <= src.len(),
                "{src:?}: label {:?} outside 0..{}",
                d.primary.span,
                src.len()
            );
        }
    }
}

// ---- What the messages say --------------------------------------------------

/// The first diagnostic of `src` with `code`, which must be reported.
fn first(code: Code, src: &str) -> Diagnostic {
    let unit = run(src);
    unit.diagnostics
        .iter()
        .find(|d| d.code == code)
        .cloned()
        .unwrap_or_else(|| panic!("{} not reported:\n{}", code.as_str(), listing(&unit)))
}

fn help(code: Code, src: &str) -> String {
    first(code, src).help.unwrap_or_default()
}

#[test]
fn a_misspelled_role_gets_did_you_mean() {
    let src = lines(&[
        "protocol P =",
        "  roles Coordinator, Worker",
        "  Coordinater -> Worker : Hello",
    ]);
    assert_eq!(
        help(Code::UndeclaredRole, &src),
        "did you mean `Coordinator`?"
    );
    let src = lines(&["protocol P =", "  roles A, B", "  A -> Auditor : Hello"]);
    assert_eq!(
        help(Code::UndeclaredRole, &src),
        "declare it on the protocol's `roles` line: `roles ..., Auditor`",
        "no suggestion when nothing is close"
    );
}

#[test]
fn a_misspelled_family_gets_did_you_mean() {
    // After `for i in`, only families are suggested.
    let src = lines(&[
        "protocol P =",
        "  roles Guardia, Guardian[N]",
        "  for g in Guardan",
        "    Guardia -> Guardian[g] : Hello",
    ]);
    assert_eq!(help(Code::UndeclaredRole, &src), "did you mean `Guardian`?");
    let src = lines(&[
        "protocol P =",
        "  roles Initiator, Guardian, Guardians[N]",
        "  Initiator -> Guardian[0] : Hello",
        "  Initiator -> Guardian : Hello",
    ]);
    assert_eq!(
        help(Code::IndexOnSingle, &src),
        "did you mean the family `Guardians`? (`Guardian` takes no index)"
    );
    let src = lines(&[
        "protocol P =",
        "  roles Initiator, Guardian, Guardians[N]",
        "  for g in Guardian",
        "    Initiator -> Guardians[g] : Hello",
    ]);
    assert_eq!(
        help(Code::BadFor, &src),
        "did you mean the family `Guardians`?"
    );
}

#[test]
fn misspelled_index_variables_exports_and_attributes_get_did_you_mean() {
    let src = lines(&[
        "protocol P =",
        "  roles A, Workers[N]",
        "  for worker in Workers",
        "    A -> Workers[workr] : Task",
    ]);
    assert_eq!(help(Code::UnboundIndex, &src), "did you mean `worker`?");
    let src = lines(&[
        "module m exposing (Handshake)",
        "protocol Handshak =",
        "  roles A, B",
        "  A -> B : Hello",
    ]);
    assert_eq!(help(Code::UnknownExport, &src), "did you mean `Handshak`?");
    let src = lines(&[
        "protocol P =",
        "  roles A, W[N]",
        "  @paralel",
        "  A -> W[*] : Hello",
    ]);
    assert_eq!(
        help(Code::UnknownAttribute, &src),
        "did you mean `@parallel`?"
    );
}

#[test]
fn a_misspelled_annotation_is_an_error_and_its_charge_is_not_dropped_silently() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[flow_cst = 3] -> B : Hello",
    ]);
    let unit = run(&src);
    assert!(unit.has_errors(), "{}", listing(&unit));
    let d = first(Code::MisspelledAnnotation, &src);
    assert_eq!(
        d.message,
        "unknown annotation `flow_cst`: did you mean `flow_cost`?"
    );
    // A key far from every known one is still passed on, with a warning.
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  A[priority = 3] -> B : Hello",
    ]);
    let unit = run(&src);
    assert!(!unit.has_errors(), "{}", listing(&unit));
    assert!(help(Code::UnknownAnnotation, &src).starts_with("known annotations: guard_capability"));
}

#[test]
fn an_unfinished_block_header_names_the_missing_token() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A",
        "    Yes ->",
        "      A -> B : Y",
    ]);
    let d = first(Code::Syntax, &src);
    assert_eq!(
        d.message,
        "expected `of` at the end of this line, found an indented block"
    );
    assert_eq!(
        d.help.as_deref(),
        Some(
            "the line opens the indented block below it, so it ends with `of`: `case choose A of`"
        )
    );
    // A line indented for no reason is still E0008.
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  A -> B : Hi",
        "    B -> A : Yo",
    ]);
    first(Code::UnexpectedIndent, &src);
}

#[test]
fn a_bad_dedent_names_the_column_it_needs() {
    let src = lines(&[
        "protocol P =",
        "  roles A, B",
        "  case choose A of",
        "      Commit ->",
        "        A -> B : Go",
        "    Abort ->",
        "      A -> B : Stop",
    ]);
    let d = first(Code::BadDedent, &src);
    assert_eq!(
        d.help.as_deref(),
        Some("indent the line to column 7 to stay in the block that starts on line 4, or to column 3 to leave it")
    );
    let unit = run(&src);
    let block = unit.file.line_col(d.secondary[0].span.start);
    assert_eq!(
        (block.line, block.column),
        (4, 7),
        "the block's first line is labelled"
    );
}
