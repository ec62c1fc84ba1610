//! Parallel parsing of one long protocol body. The layout pass records where
//! the top-level statements of each indented body are separated; a large
//! file is cut at a few of those separators and the pieces are parsed and
//! lowered on separate threads with entry rules of the same grammar
//! (`body_run`, `body_tail`), then stitched together. The result equals the
//! sequential parse; any problem in any piece falls back to the sequential
//! parse, which reports it.

use super::ast::{File, Protocol, Stmt};
use super::layout::{Resolved, CLOSE};
use super::lower::{ChoreoParser, Lower, Rule};
use pest::Parser as _;

/// Below this many bytes of resolved text, one thread is faster.
const MIN_PARALLEL_BYTES: usize = 256 * 1024;

/// What one piece parses into.
enum Piece {
    /// The head of the file, up to the first cut, with the split body closed.
    Head(File),
    /// A run of statements of the split body.
    Run(Vec<Stmt>),
    /// The last run, where the split body ends, and the items after it.
    Tail(Vec<Stmt>, usize, Vec<Protocol>),
}

/// Parses `resolved` in pieces on several threads, or returns `None` when
/// that does not apply (small input, one core, no long indented body) or
/// any piece fails.
pub(super) fn parse_in_parallel(resolved: &Resolved) -> Option<File> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || resolved.text.len() < MIN_PARALLEL_BYTES {
        return None;
    }
    parse_in_pieces(resolved, threads)
}

/// Parses `resolved` in `threads` pieces (fewer if the body is short), or
/// returns `None` when it cannot be split or a piece fails.
pub(super) fn parse_in_pieces(resolved: &Resolved, threads: usize) -> Option<File> {
    let text = &resolved.text;
    let cuts = cut_points(resolved, threads)?;
    let mut bounds = vec![0];
    bounds.extend(&cuts);
    bounds.push(text.len());
    let last = bounds.len() - 2;
    let pieces: Vec<Option<Piece>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (start, end) = (w[0], w[1]);
                scope.spawn(move || parse_piece(resolved, start, end, i == 0, i == last))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    let mut pieces = pieces.into_iter();
    let Some(Piece::Head(mut file)) = pieces.next()? else {
        return None;
    };
    let protocol = file.protocols.last_mut()?;
    for piece in pieces {
        match piece? {
            Piece::Run(stmts) => protocol.body.extend(stmts),
            Piece::Tail(stmts, end, rest) => {
                protocol.body.extend(stmts);
                protocol.span.end = end;
                file.protocols.extend(rest);
                return Some(file);
            }
            Piece::Head(_) => return None,
        }
    }
    None
}

/// Up to `threads - 1` separators of the longest indented body, spread evenly.
fn cut_points(resolved: &Resolved, threads: usize) -> Option<Vec<usize>> {
    let seps = &resolved.body_seps;
    // The item with the most body separators.
    let mut best = (0, 0, 0); // (count, first index, item)
    let mut i = 0;
    while i < seps.len() {
        let item = seps[i].1;
        let n = seps[i..].iter().take_while(|s| s.1 == item).count();
        if n > best.0 {
            best = (n, i, item);
        }
        i += n;
    }
    let body = &seps[best.1..best.1 + best.0];
    if body.len() < threads * 2 {
        return None;
    }
    let mut cuts: Vec<usize> = (1..threads)
        .map(|k| body[body.len() * k / threads].0)
        .collect();
    cuts.dedup();
    Some(cuts)
}

fn parse_piece(
    resolved: &Resolved,
    start: usize,
    end: usize,
    head: bool,
    tail: bool,
) -> Option<Piece> {
    let text = &resolved.text[start..end];
    let mut lower = Lower::new(resolved, start);
    let piece = if head {
        // Close the split body so that the head is a whole file.
        let closed = format!("{text}{CLOSE}");
        let pair = ChoreoParser::parse(Rule::file, &closed).ok()?.next()?;
        Piece::Head(lower.file(pair))
    } else {
        let rule = if tail {
            Rule::body_tail
        } else {
            Rule::body_run
        };
        let pair = ChoreoParser::parse(rule, text).ok()?.next()?;
        let mut stmts = Vec::new();
        let mut close_end = None;
        let mut rest = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::close => close_end = Some(lower.span(&p).end),
                _ if close_end.is_some() && p.as_rule() == Rule::protocol => {
                    rest.push(lower.protocol(p))
                }
                Rule::stmt => stmts.push(lower.stmt(p)),
                _ => {}
            }
        }
        match close_end {
            Some(end) if tail => Piece::Tail(stmts, end, rest),
            None if !tail => Piece::Run(stmts),
            _ => return None,
        }
    };
    lower.diags.is_empty().then_some(piece)
}
