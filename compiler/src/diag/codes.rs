//! The stable diagnostic codes. `docs/error-codes.md` lists them; a test keeps
//! that list and this table in step.

use super::Severity;

macro_rules! codes {
    ($( $variant:ident = $code:literal, $sev:ident, $summary:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( #[doc = $summary] $variant, )*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as printed (`E0101`).
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// Whether the code is an error or a warning.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// One-line summary of what the code means.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }
        }
    };
}

codes! {
    Syntax = "E0001", Error, "syntax error: the text does not follow the grammar";
    TabIndent = "E0002", Error, "a tab character in indentation";
    BadDedent = "E0003", Error, "a line returns to a column that matches no open block";
    TooDeep = "E0004", Error, "blocks, brackets or comments nested deeper than the limit (256)";
    BadChar = "E0005", Error, "the file is not UTF-8 text, or holds a control character";
    UnterminatedString = "E0006", Error, "a string literal is not closed on its line";
    UnterminatedComment = "E0007", Error, "a block comment `{-` is never closed by `-}`";
    UnexpectedIndent = "E0008", Error, "a line is indented deeper, but the line before it opens no block";
    NumberTooLarge = "E0009", Error, "an integer literal does not fit in 64 bits";
    UndeclaredRole = "E0101", Error, "a role is used but not declared in `roles`";
    DuplicateRole = "E0102", Error, "a role is declared twice";
    DuplicateProtocol = "E0103", Error, "a protocol name is declared twice in one file";
    UnknownExport = "E0104", Error, "`exposing` names a protocol that the file does not declare";
    NoProtocol = "E0105", Error, "the file declares no protocol";
    SelfSend = "E0201", Error, "a role (or family member) sends to itself";
    IndexOnSingle = "E0301", Error, "an index on a role that is not a family";
    IndexOutOfRange = "E0302", Error, "a constant index outside a fixed family size";
    UnboundIndex = "E0303", Error, "an index variable that no enclosing `for` binds";
    MissingIndex = "E0304", Error, "a family used without an index";
    BadFor = "E0305", Error, "a `for` over something that is not a family, or an index variable used with the wrong family";
    EmptyRange = "E0306", Error, "a member range `a..b` that selects no member";
    MemberInOwnFor = "E0307", Error, "a member of a family singled out inside a `for` over that same family";
    TooManyMembers = "E0308", Error, "more than 256 members of one family singled out by constant indexes or ranges";
    DuplicateBranch = "E0401", Error, "two branches of one `case` have the same label";
    NoBranches = "E0402", Error, "a `case` without any branch";
    BadChooser = "E0403", Error, "a range of members named as the chooser of a `case`";
    UnknowableChoice = "E0501", Error, "a role cannot learn which branch of a choice was taken";
    MergedMessagesDiffer = "E0502", Error, "a message a role sends or receives in several branches, without knowing which was taken, is written differently in them (sender annotations, attributes or payload)";
    ChooserNotFirst = "E0601", Error, "the first message of a branch is not sent by the chooser";
    FamilyBranchShape = "E0602", Error, "in a branch chosen by a family, a statement is not a message to or from the choosing member";
    BadDecider = "E0701", Error, "`loop decide by` names something other than a single role or one family member";
    DeciderAbsent = "E0702", Error, "the decider of `loop decide by` takes no part in the loop body";
    ReservedLabel = "E0703", Error, "`Continue` or `Done` sent by the decider inside its own `loop decide by`";
    DeciderFamily = "E0704", Error, "a family member decides a loop in which its whole family takes part";
    AnnotationType = "E0801", Error, "a known annotation has a value of the wrong type";
    NegativeCost = "E0802", Error, "`flow_cost` (or a leakage budget entry) is negative";
    BudgetShape = "E0803", Error, "`leakage_budget` does not have exactly three entries";
    DuplicateAnnotation = "E0804", Error, "the same annotation key is given twice on one role";
    LeakOverBudget = "E0805", Error, "a send's `leak` exceeds its own `leakage_budget`, so it would always be refused";
    MisspelledAnnotation = "E0806", Error, "an unknown annotation key so close to a known one that it is taken for a misspelling";
    ManifestInvalid = "E1001", Error, "the audit manifest is not valid YAML, has an unknown key, or a value of the wrong kind";
    ManifestMissing = "E1002", Error, "a protocol of `protocols/` has no entry in the audit manifest";
    ManifestOrphan = "E1003", Error, "an audit manifest entry names a protocol that does not exist";
    ManifestDuplicate = "E1004", Error, "a protocol has two entries in the audit manifest";
    EvidenceInvalid = "E1005", Error, "a line of an audit evidence file is not a session record";
    FmtChangesMeaning = "E1101", Error, "`choreoc fmt` would change what a file means, so it leaves the file alone (a bug in the formatter)";
    WireBreaking = "E1201", Error, "`choreoc breaking`: old and new implementations of the roles can no longer complete a session together";
    ApiBreaking = "E1202", Error, "`choreoc breaking`: the wire is compatible, but the generated Rust API changes";
    UnusedRole = "W0901", Warning, "a declared role takes part in no statement";
    UnknownAnnotation = "W0902", Warning, "an annotation key that the compiler does not know (kept and passed on)";
    UnknownAttribute = "W0903", Warning, "a statement attribute that the compiler does not know (kept and passed on)";
    UselessAttribute = "W0904", Warning, "an attribute that has no effect on this statement";
    Unreachable = "W0905", Warning, "statements after `loop forever` never run";
    CompatibleChange = "W1203", Warning, "`choreoc breaking`: a change that keeps the wire and the API, but changes what a send does at run time";
}
