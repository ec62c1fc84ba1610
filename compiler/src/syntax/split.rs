//! Piecewise (and parallel) parsing of one long protocol body. The layout
//! pass records where the top-level statements of each indented body are
//! separated; a large file is cut at those separators into pieces of about
//! [`PIECE_STATEMENTS`] statements, which a few worker threads take in turn,
//! each parsing and lowering one piece (entry rules `body_run`, `body_tail`
//! of the same grammar) before taking the next. pest's token queue lives only
//! for one piece at a time per worker, so peak memory is the syntax tree plus
//! a few pieces' queues, not the whole file's queue. The pieces are then
//! stitched together; the result equals the sequential parse, and any
//! problem in any piece falls back to the sequential parse, which reports it.

use super::ast::{File, Protocol, Stmt};
use super::layout::{Resolved, CLOSE};
use super::lower::{ChoreoParser, Lower, Rule};
use pest::Parser as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Below this many bytes of resolved text, one piece is faster.
const MIN_PIECEWISE_BYTES: usize = 256 * 1024;

/// About this many statements go in one piece.
const PIECE_STATEMENTS: usize = 128;

/// What one piece parses into.
enum Piece {
    /// The head of the file, up to the first cut, with the split body closed.
    Head(File),
    /// A run of statements of the split body.
    Run(Vec<Stmt>),
    /// The last run, where the split body ends, and the items after it.
    Tail(Vec<Stmt>, usize, Vec<Protocol>),
}

/// Parses a large `resolved` in pieces on up to 8 threads (one on a single
/// core), or returns `None` when that does not apply (small input, no long
/// indented body) or any piece fails.
pub(super) fn parse_piecewise(resolved: &Resolved) -> Option<File> {
    if resolved.text.len() < MIN_PIECEWISE_BYTES {
        return None;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let statements = longest_body(resolved).len();
    let pieces = (statements / PIECE_STATEMENTS).max(threads);
    parse_pieces(resolved, pieces, threads)
}

/// Parses `resolved` in `pieces` pieces (fewer if the body is short) on as
/// many threads, or returns `None` when it cannot be cut or a piece fails.
pub(super) fn parse_in_pieces(resolved: &Resolved, pieces: usize) -> Option<File> {
    parse_pieces(resolved, pieces, pieces)
}

/// Parses `resolved` in `pieces` pieces taken in turn by `workers` threads.
fn parse_pieces(resolved: &Resolved, pieces: usize, workers: usize) -> Option<File> {
    let text = &resolved.text;
    let cuts = cut_points(resolved, pieces)?;
    let mut bounds = vec![0];
    bounds.extend(&cuts);
    bounds.push(text.len());
    let last = bounds.len() - 2;
    let count = bounds.len() - 1;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Vec<Mutex<Option<Piece>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count || failed.load(Ordering::Relaxed) {
            return;
        }
        match parse_piece(resolved, bounds[i], bounds[i + 1], i == 0, i == last) {
            Some(piece) => *done[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(piece),
            None => failed.store(true, Ordering::Relaxed),
        }
    };
    let workers = workers.clamp(1, count);
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(work);
            }
        });
    }
    if failed.load(Ordering::Relaxed) {
        return None;
    }
    let mut pieces: Vec<Option<Piece>> = done
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect();
    let statements: usize = pieces
        .iter()
        .map(|p| match p {
            Some(Piece::Run(s)) | Some(Piece::Tail(s, ..)) => s.len(),
            _ => 0,
        })
        .sum();
    let mut pieces = pieces.drain(..);
    let Some(Piece::Head(mut file)) = pieces.next()? else {
        return None;
    };
    let protocol = file.protocols.last_mut()?;
    protocol.body.reserve_exact(statements);
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

/// The separators of the longest indented body (the item with the most).
fn longest_body(resolved: &Resolved) -> &[(usize, usize)] {
    let seps = &resolved.body_seps;
    let mut best = (0, 0); // (count, first index)
    let mut i = 0;
    while i < seps.len() {
        let item = seps[i].1;
        let n = seps[i..].iter().take_while(|s| s.1 == item).count();
        if n > best.0 {
            best = (n, i);
        }
        i += n;
    }
    &seps[best.1..best.1 + best.0]
}

/// Up to `pieces - 1` separators of the longest indented body, spread evenly.
fn cut_points(resolved: &Resolved, pieces: usize) -> Option<Vec<usize>> {
    let body = longest_body(resolved);
    let pieces = pieces.min(body.len() / 2);
    if pieces < 2 {
        return None;
    }
    let mut cuts: Vec<usize> = (1..pieces)
        .map(|k| body[body.len() * k / pieces].0)
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
