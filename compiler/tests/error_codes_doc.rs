//! Keeps `docs/error-codes.md` and `Code::ALL` in step: every code has a
//! section with its severity and an example, no section documents a code that
//! does not exist, and every compiled (`choreo`) example reports its code.

use choreoc::diag::{Code, Severity};
use choreoc::driver::compile;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/error-codes.md");

fn doc() -> String {
    std::fs::read_to_string(DOC).unwrap_or_else(|e| panic!("cannot read {DOC}: {e}"))
}

/// One `## CODE: title` section of the document.
struct Section {
    code: String,
    body: String,
}

fn sections(doc: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let code = heading.split(':').next().unwrap_or("").trim().to_string();
            out.push(Section {
                code,
                body: String::new(),
            });
        } else if let Some(last) = out.last_mut() {
            last.body.push_str(line);
            last.body.push('\n');
        }
    }
    out
}

/// The contents of the fenced blocks of `body` whose info string is `lang`.
fn fenced<'a>(body: &'a str, lang: &str) -> Vec<&'a str> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find("```").expect("closed code block");
        out.push(&after[..end]);
        rest = &after[end + 3..];
    }
    out
}

#[test]
fn every_code_appears_in_the_document() {
    let doc = doc();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !doc.contains(c))
        .collect();
    assert!(missing.is_empty(), "codes missing from {DOC}: {missing:?}");
}

#[test]
fn every_code_has_one_section_in_order() {
    let doc = doc();
    let documented: Vec<String> = sections(&doc)
        .into_iter()
        .map(|s| s.code)
        .filter(|c| c.starts_with('E') || c.starts_with('W'))
        .collect();
    let expected: Vec<String> = Code::ALL.iter().map(|c| c.as_str().to_string()).collect();
    assert_eq!(
        documented, expected,
        "{DOC} must have one `## CODE: title` section per code, in numeric order"
    );
}

#[test]
fn sections_give_severity_and_an_example() {
    let doc = doc();
    for s in sections(&doc) {
        let Some(code) = Code::ALL.iter().find(|c| c.as_str() == s.code) else {
            continue;
        };
        let severity = match code.severity() {
            Severity::Error => "Severity: error",
            Severity::Warning => "Severity: warning",
        };
        assert!(
            s.body.contains(severity),
            "{}: the section must say `{severity}`",
            s.code
        );
        let examples = ["choreo", "text", "yaml"]
            .iter()
            .map(|k| fenced(&s.body, k).len())
            .sum::<usize>();
        assert!(examples > 0, "{}: the section has no example", s.code);
        assert!(
            s.body.contains("How to fix"),
            "{}: the section does not say how to fix it",
            s.code
        );
    }
}

#[test]
fn choreo_examples_report_their_code() {
    let doc = doc();
    let mut compiled = 0;
    for s in sections(&doc) {
        let Some(code) = Code::ALL.iter().find(|c| c.as_str() == s.code) else {
            continue;
        };
        for example in fenced(&s.body, "choreo") {
            let unit = compile("example.choreo", example.as_bytes());
            let codes: Vec<&str> = unit.diagnostics.iter().map(|d| d.code.as_str()).collect();
            assert!(
                unit.diagnostics.iter().any(|d| d.code == *code),
                "the example of {} reports {codes:?}:\n{example}",
                s.code
            );
            compiled += 1;
        }
    }
    // E0002, E0004 and E0005 are shown as text; the manifest codes (E10xx)
    // as YAML, checked by tests/audit.rs; the codes of `fmt` (E11xx) and
    // `breaking` (x12xx) compare two texts, shown as text and checked by
    // tests/fmt.rs and tests/breaking.rs.
    let not_compiled = Code::ALL
        .iter()
        .filter(|c| {
            ["E10", "E11", "E12", "W12"]
                .iter()
                .any(|p| c.as_str().starts_with(p))
        })
        .count();
    assert!(
        compiled >= Code::ALL.len() - 3 - not_compiled,
        "only {compiled} examples compiled"
    );
}

/// The `(first, last)` codes of each row of the table of ranges at the top.
fn ranges(doc: &str) -> Vec<(String, String)> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split(" |").next())
        .map(|cell| {
            let codes: Vec<String> = cell
                .split('–')
                .map(|c| c.trim_matches('`').to_string())
                .collect();
            (codes[0].clone(), codes.last().cloned().unwrap_or_default())
        })
        .collect()
}

#[test]
fn the_table_of_ranges_covers_every_code_and_names_only_real_ones() {
    let doc = doc();
    let ranges = ranges(&doc);
    assert!(!ranges.is_empty(), "no table of ranges in {DOC}");
    let real = |c: &str| Code::ALL.iter().any(|k| k.as_str() == c);
    for (first, last) in &ranges {
        assert!(
            real(first) && real(last),
            "the range {first}–{last} names a code that does not exist"
        );
    }
    for code in Code::ALL {
        let c = code.as_str();
        assert!(
            ranges
                .iter()
                .any(|(a, b)| a[..1] == c[..1] && a.as_str() <= c && c <= b.as_str()),
            "{c} is in no range of the table at the top of {DOC}"
        );
    }
}

#[test]
fn explain_prints_the_document_it_was_built_with() {
    // `choreoc explain` embeds the document: a stale build would disagree.
    assert_eq!(choreoc::diag::explain::DOCUMENT, doc());
    for s in sections(&doc()) {
        let Some(code) = Code::ALL.iter().find(|c| c.as_str() == s.code) else {
            continue;
        };
        let entry = choreoc::diag::explain::entry(*code).expect("an entry");
        for example in fenced(&s.body, "choreo") {
            assert!(
                entry.contains(example),
                "{}: the entry lacks an example",
                s.code
            );
        }
    }
}
