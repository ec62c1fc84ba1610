//! Finds the comments of a source text (the layout pass blanks them, so the
//! syntax tree does not hold them) and the few facts about their position that
//! the formatter needs to put them back in place.

/// One comment of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Offset of `--` or `{-`.
    pub start: usize,
    /// Offset just after the comment (a line comment ends before its line break).
    pub end: usize,
    /// Whether it is a `{- ... -}` block comment.
    pub block: bool,
}

impl Comment {
    /// The comment's text, without a carriage return that ends its line.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        let t = &src[self.start..self.end];
        if self.block {
            t
        } else {
            t.trim_end_matches(['\r', ' ', '\t'])
        }
    }
}

/// Every comment of `src`, in order. The text is assumed to have passed the
/// layout pass (strings and block comments are closed); unclosed ones simply
/// run to the end.
pub fn scan(src: &str) -> Vec<Comment> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] != b'\n' {
                        2
                    } else {
                        1
                    };
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let start = i;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                out.push(Comment {
                    start,
                    end: i,
                    block: false,
                });
            }
            b'{' if b.get(i + 1) == Some(&b'-') => {
                let start = i;
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'{' && b.get(i + 1) == Some(&b'-') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'-' && b.get(i + 1) == Some(&b'}') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(Comment {
                    start,
                    end: i.min(b.len()),
                    block: true,
                });
            }
            _ => i += 1,
        }
    }
    out
}

/// The offset of the first byte at or after `from` that is neither
/// whitespace nor inside a comment (or `src.len()`).
pub fn skip_blank(src: &str, comments: &[Comment], mut from: usize) -> usize {
    let b = src.as_bytes();
    let mut next = comments.partition_point(|c| c.end <= from);
    loop {
        while from < b.len() && matches!(b[from], b' ' | b'\t' | b'\r' | b'\n') {
            from += 1;
        }
        match comments.get(next) {
            Some(c) if c.start <= from => {
                from = from.max(c.end);
                next += 1;
            }
            _ => return from.min(b.len()),
        }
    }
}

/// Whether a line break lies in `src[from..to]` (false for an empty or reversed range).
pub fn breaks_between(src: &str, from: usize, to: usize) -> bool {
    src.get(from..to).is_some_and(|s| s.contains('\n'))
}

/// Whether the line holding `at` is preceded by a blank line: only
/// whitespace between `at` and the line break before it, and only whitespace
/// between that break and the one before.
pub fn blank_line_before(src: &str, at: usize) -> bool {
    let b = src.as_bytes();
    let mut i = at.min(b.len());
    let mut breaks = 0;
    while i > 0 {
        match b[i - 1] {
            b' ' | b'\t' | b'\r' => {}
            b'\n' => {
                breaks += 1;
                if breaks == 2 {
                    return true;
                }
            }
            _ => return false,
        }
        i -= 1;
    }
    false
}

/// The column (0-based, in characters) of offset `at` on its line.
pub fn column(src: &str, at: usize) -> usize {
    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    src[line_start..at].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_block_and_nested_comments_but_not_inside_strings() {
        let src = "-- a\nA[x = \"-- no {- no\"] -> B {- b {- c -} -} : M -- d\r\n";
        let texts: Vec<&str> = scan(src).iter().map(|c| c.text(src)).collect();
        assert_eq!(texts, ["-- a", "{- b {- c -} -}", "-- d"]);
    }

    #[test]
    fn blank_lines_and_columns() {
        let src = "a\n\n  b\n  c";
        assert!(blank_line_before(src, 5));
        assert!(!blank_line_before(src, 9));
        assert_eq!(column(src, 5), 2);
        let comments = scan("x {- y -}  -- z\n  w");
        assert_eq!(skip_blank("x {- y -}  -- z\n  w", &comments, 1), 18);
    }
}
