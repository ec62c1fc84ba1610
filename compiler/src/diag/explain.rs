//! The long explanation of each diagnostic code, as `choreoc explain CODE`
//! prints it: the code's section of `docs/error-codes.md`, embedded in the
//! compiler so that the binary and the document can never disagree.

use super::Code;

/// `docs/error-codes.md`, embedded at build time.
pub const DOCUMENT: &str = include_str!("../../docs/error-codes.md");

/// The section of `docs/error-codes.md` about `code`: from its
/// `## CODE: title` heading up to the next heading or separator, without
/// trailing blank lines. Every code has one (a test checks it).
pub fn entry(code: Code) -> Option<&'static str> {
    let heading = format!("\n## {}:", code.as_str());
    let start = DOCUMENT.find(&heading)? + 1;
    let rest = &DOCUMENT[start..];
    let end = rest[1..]
        .find("\n## ")
        .map_or(rest.len(), |n| n + 1)
        .min(rest.find("\n---\n").unwrap_or(rest.len()));
    Some(rest[..end].trim_end())
}

/// The code called `name` (`E0501`, any case).
pub fn parse(name: &str) -> Option<Code> {
    Code::ALL
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_entry_that_starts_with_its_heading() {
        for &code in Code::ALL {
            let entry = entry(code).unwrap_or_else(|| panic!("no entry for {code:?}"));
            assert!(
                entry.starts_with(&format!("## {}:", code.as_str())),
                "{entry}"
            );
            assert!(
                !entry[3..].contains("\n## "),
                "{}: the entry runs into the next one",
                code.as_str()
            );
            assert!(entry.contains("How to fix"), "{}", code.as_str());
        }
    }

    #[test]
    fn codes_parse_in_any_case() {
        assert_eq!(parse("e0501"), Some(Code::UnknowableChoice));
        assert_eq!(parse(" W0901 "), Some(Code::UnusedRole));
        assert_eq!(parse("E9999"), None);
    }
}
