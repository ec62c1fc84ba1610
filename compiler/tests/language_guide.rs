//! Keeps `docs/language-guide.md` true: every example is followed by the
//! command the guide runs on it and that command's output, and running the
//! command again (as `choreoc` on a file `example.choreo`) prints exactly
//! that; the examples use every keyword of the grammar, and the guide
//! documents every annotation key.

use std::process::Command;

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language-guide.md");
const GRAMMAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammar/choreo.pest");

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The fenced blocks of `doc`, in order: (info string, content).
fn blocks(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut body = String::new();
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        out.push((info.to_string(), body));
    }
    out
}

/// Each `choreo` example with the `text` block that follows it.
fn examples(doc: &str) -> Vec<(String, String)> {
    let blocks = blocks(doc);
    let mut out = Vec::new();
    for (i, (info, body)) in blocks.iter().enumerate() {
        if info != "choreo" {
            continue;
        }
        let next = blocks.get(i + 1).filter(|(k, _)| k == "text");
        let run = next.map(|(_, b)| b.clone()).unwrap_or_default();
        assert!(
            run.starts_with("$ choreoc "),
            "an example of the guide is not followed by a ```text block starting with \
             `$ choreoc ...`:\n{body}"
        );
        out.push((body.clone(), run));
    }
    out
}

#[test]
fn every_example_prints_what_the_guide_shows() {
    let doc = read(GUIDE);
    let examples = examples(&doc);
    assert!(examples.len() >= 15, "only {} examples", examples.len());
    let dir = std::env::temp_dir().join(format!("choreoc-guide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (source, run) in examples {
        let (command, expected) = run.split_once('\n').expect("a command line");
        std::fs::write(dir.join("example.choreo"), &source).expect("write example");
        let args: Vec<&str> = command
            .strip_prefix("$ choreoc ")
            .expect("checked")
            .split_whitespace()
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_choreoc"))
            .args(&args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("choreoc runs");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            printed, expected,
            "`{command}` on this example prints something else than the guide says:\n{source}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_examples_use_every_keyword_and_the_guide_lists_every_annotation() {
    let doc = read(GUIDE);
    let code: String = examples(&doc).into_iter().map(|(s, _)| s).collect();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@'))
        .collect();
    // Keywords are the grammar's `kw_name = @{ "word" ~ ... }` rules.
    let keywords: Vec<String> = read(GRAMMAR)
        .lines()
        .filter(|l| l.starts_with("kw_"))
        .filter_map(|l| l.split('"').nth(1).map(String::from))
        .collect();
    assert!(keywords.len() >= 15, "{keywords:?}");
    for k in keywords.iter().map(String::as_str).chain(["@parallel"]) {
        assert!(words.contains(&k), "no example of the guide uses `{k}`");
    }
    for key in choreoc::check::ANNOTATION_KEYS {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "the guide's annotation table lacks `{key}`"
        );
    }
    // Every role declaration form and every way to name members.
    for form in ["[N]", "[*]", "[0]", "[1..3]", "[w]"] {
        assert!(code.contains(form), "no example declares or uses `{form}`");
    }
}
