//! Turns printed lines back into text, putting every comment of the source
//! back between the same two tokens it sat between, and keeping blank lines
//! (at most one in a row).
//!
//! Where a comment goes:
//! - a block comment with code on both sides on one line stays there (inline);
//! - a comment on the line of the token before it goes to the end of the
//!   printed line of that token (trailing); if that line already ends with a
//!   line comment, it goes on its own line just after;
//! - any other comment goes on its own line before the printed line of the
//!   token after it, indented at the block level whose source column it
//!   matches among the blocks that end or begin there.
//!
//! Blank lines: one is kept before a line or comment that had one in the
//! source, except first in a block or in the file; exactly one precedes each
//! `protocol` (with the comments directly above it).

use super::comments::{blank_line_before, breaks_between, column, Comment};
use super::printer::Line;

/// Where one comment goes.
enum Place {
    /// Before this token (an index into all tokens), on its line.
    Inline(usize),
    /// At the end of line `line`.
    Trailing(usize),
    /// On its own line before line `line`.
    Leading(usize),
    /// On its own line after the last line.
    End,
}

/// The text of `lines` with `comments` (of `src`) woven in.
pub fn weave(lines: &[Line], src: &str, comments: &[Comment]) -> String {
    let toks: Vec<(usize, usize)> = lines
        .iter()
        .enumerate()
        .flat_map(|(l, line)| (0..line.toks.len()).map(move |t| (l, t)))
        .collect();
    let tok = |i: usize| &lines[toks[i].0].toks[toks[i].1];
    let mut inline = vec![Vec::new(); toks.len()];
    let mut trailing = vec![Vec::new(); lines.len()];
    let mut leading = vec![Vec::new(); lines.len()];
    let mut end = Vec::new();
    for (ci, c) in comments.iter().enumerate() {
        let g = toks.partition_point(|&(l, t)| lines[l].toks[t].src < c.start);
        let prev = g.checked_sub(1);
        let next = (g < toks.len()).then_some(g);
        let same_line = prev.is_some_and(|p| !breaks_between(src, tok(p).src_end, c.start));
        let place = match (prev, next) {
            (Some(p), Some(n))
                if same_line
                    && c.block
                    && toks[p].0 == toks[n].0
                    && !breaks_between(src, c.end, tok(n).src) =>
            {
                Place::Inline(n)
            }
            (Some(p), _) if same_line => Place::Trailing(toks[p].0),
            (_, Some(n)) => Place::Leading(toks[n].0),
            (_, None) => Place::End,
        };
        match place {
            Place::Inline(n) => inline[n].push(ci),
            Place::Trailing(l) => trailing[l].push(ci),
            Place::Leading(l) => leading[l].push(ci),
            Place::End => end.push(ci),
        }
    }
    let mut w = Writer {
        src,
        comments,
        out: String::with_capacity(src.len() + 64),
        cols: Vec::new(),
        first: true,
        after_opener: false,
    };
    let mut flat = 0;
    for (i, line) in lines.iter().enumerate() {
        let first_src = line.toks.first().map_or(0, |t| t.src);
        let here = (line.level, column(src, first_src));
        let levels: Vec<usize> = leading[i]
            .iter()
            .map(|&ci| w.level_of(&comments[ci], i.checked_sub(1).map(|p| &lines[p]), here))
            .collect();
        // With `protocol`, the comments directly above it (at the top
        // level) move with it, after one blank line.
        let keep = levels.iter().rposition(|&l| l != 0).map_or(0, |k| k + 1);
        for (k, (&ci, &level)) in leading[i].iter().zip(&levels).enumerate() {
            let forced = line.top && k == keep;
            w.comment_line(ci, level, forced);
        }
        let forced = line.top && keep == leading[i].len();
        w.blank(forced || blank_line_before(src, first_src));
        w.indent(line.level);
        for (t, tk) in line.toks.iter().enumerate() {
            for &ci in &inline[flat + t] {
                w.out.push(' ');
                w.out.push_str(comments[ci].text(src));
            }
            if tk.space {
                w.out.push(' ');
            }
            w.out.push_str(&tk.text);
        }
        flat += line.toks.len();
        let mut spill = Vec::new();
        let mut closed = false;
        for &ci in &trailing[i] {
            if closed {
                spill.push(ci);
                continue;
            }
            w.out.push(' ');
            w.out.push_str(comments[ci].text(src));
            closed = !comments[ci].block;
        }
        w.out.push('\n');
        if w.cols.len() <= line.level {
            w.cols.resize(line.level + 1, 0);
        }
        w.cols[line.level] = here.1;
        w.after_opener = line.opens;
        for ci in spill {
            w.comment_line(ci, line.level, false);
        }
    }
    for &ci in &end {
        let level = w.level_of(&comments[ci], lines.last(), (0, 0));
        w.comment_line(ci, level, false);
    }
    w.out
}

struct Writer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    out: String,
    /// The source column of the last line printed at each level.
    cols: Vec<usize>,
    /// Nothing printed yet.
    first: bool,
    /// The last line printed opens a block.
    after_opener: bool,
}

impl Writer<'_> {
    /// The level of an own-line comment between line `prev` and a line at
    /// `(level, source column)`: the deepest level between the two whose
    /// source column the comment reaches, else the shallower one.
    fn level_of(&self, c: &Comment, prev: Option<&Line>, (level, col): (usize, usize)) -> usize {
        let Some(prev) = prev else {
            return level;
        };
        let (lo, hi) = (prev.level.min(level), prev.level.max(level));
        let ccol = column(self.src, c.start);
        (lo..=hi)
            .rev()
            .find(|&l| {
                let lcol = if l == level {
                    col
                } else {
                    self.cols.get(l).copied().unwrap_or(2 * l)
                };
                lcol <= ccol
            })
            .unwrap_or(lo)
    }

    /// A blank line if `wanted` and allowed here.
    fn blank(&mut self, wanted: bool) {
        if wanted && !self.first && !self.after_opener {
            self.out.push('\n');
        }
        self.first = false;
        self.after_opener = false;
    }

    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn comment_line(&mut self, ci: usize, level: usize, forced: bool) {
        let c = &self.comments[ci];
        self.blank(forced || blank_line_before(self.src, c.start));
        self.indent(level);
        self.out.push_str(c.text(self.src));
        self.out.push('\n');
    }
}
