//! The interpreter: one explicit frame stack per process, FIFO queues per
//! ordered pair of processes, and a depth-first exploration of choices.

use super::{Config, PathReport, Report};
use crate::check::model::{Count, Participant, Protocol, Sel};
use crate::project::local::{Action, Alt, MsgRef};
use crate::project::{Projection, Target};
use std::collections::{BTreeMap, VecDeque};

/// How one explored path ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every role reached the end of its local type; no message was left over.
    Finished,
    /// A loop reached the round bound; the path was cut there.
    Bounded,
    /// No role can go on; each stuck role with the action it waits on.
    Stuck(Vec<String>),
    /// A role received a message it did not expect, or a family index does
    /// not exist with the sizes given.
    Error(String),
}

/// One process to run.
pub(super) struct ProcSpec {
    pub role: usize,
    pub name: String,
    pub target: Target,
}

#[derive(Clone, Debug)]
enum Frame<'a> {
    Seq {
        seq: &'a [Action],
        pos: usize,
    },
    /// `decided`: a `loop decide by`, whose decider bounds the rounds itself.
    Loop {
        id: usize,
        body: &'a [Action],
        rounds: u32,
        decided: bool,
    },
    Repeat {
        body: &'a [Action],
        left: u64,
    },
    Foreach {
        family: usize,
        var: &'a str,
        body: &'a [Action],
        k: usize,
        n: usize,
    },
    /// An external choice offered by each of several members, one at a time.
    Members {
        family: usize,
        alts: &'a [Alt],
        members: Vec<usize>,
        next: usize,
        current: Option<usize>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Running,
    Done,
    Bounded,
}

#[derive(Clone)]
struct State<'a> {
    stacks: Vec<Vec<Frame<'a>>>,
    status: Vec<Status>,
    queues: BTreeMap<(usize, usize), VecDeque<&'a str>>,
    delivered: usize,
    decisions: Vec<String>,
    /// Per process: the messages of the protocol it sent and received, in
    /// order, as `!Peer.Label` / `?Peer.Label` (added control messages are
    /// not traced).
    traces: Vec<Vec<String>>,
}

enum Step<'a> {
    Progress,
    Blocked(String),
    Idle,
    Choose(Vec<(usize, &'a str)>),
    Error(String),
}

struct Machine<'a> {
    protocol: &'a Protocol,
    procs: Vec<ProcSpec>,
    sizes: &'a [usize],
    /// First process of each role.
    base: Vec<usize>,
    config: &'a Config,
    paths: Vec<PathReport>,
    truncated: bool,
}

pub(super) fn explore(
    protocol: &Protocol,
    projection: &Projection,
    sizes: &[usize],
    procs: Vec<ProcSpec>,
    config: &Config,
) -> Report {
    let mut base = vec![0; protocol.roles.len()];
    for (i, p) in procs.iter().enumerate().rev() {
        base[p.role] = i;
    }
    let stacks = procs
        .iter()
        .map(|p| {
            let local = projection.locals.iter().find(|l| l.target == p.target);
            local.map_or_else(Vec::new, |l| {
                vec![Frame::Seq {
                    seq: &l.body,
                    pos: 0,
                }]
            })
        })
        .collect();
    let state = State {
        stacks,
        status: vec![Status::Running; procs.len()],
        queues: BTreeMap::new(),
        delivered: 0,
        decisions: Vec::new(),
        traces: vec![Vec::new(); procs.len()],
    };
    let mut m = Machine {
        protocol,
        procs,
        sizes,
        base,
        config,
        paths: Vec::new(),
        truncated: false,
    };
    m.search(state);
    Report {
        protocol: protocol.name.clone(),
        processes: m.procs.iter().map(|p| p.name.clone()).collect(),
        paths: m.paths,
        truncated: m.truncated,
    }
}

impl<'a> Machine<'a> {
    /// Runs `state` to its next choice, then tries every option.
    fn search(&mut self, mut state: State<'a>) {
        if self.paths.len() >= self.config.max_paths {
            self.truncated = true;
            return;
        }
        match self.run(&mut state) {
            Ok(Some((p, options))) => {
                for (i, label) in options {
                    let mut next = state.clone();
                    next.decisions
                        .push(format!("{}: {label}", self.procs[p].name));
                    choose(&mut next.stacks[p], i);
                    self.search(next);
                    if self.truncated {
                        return;
                    }
                }
            }
            Ok(None) => {
                let outcome = self.outcome(&mut state);
                self.paths.push(PathReport {
                    decisions: state.decisions,
                    outcome,
                    messages: state.delivered,
                    traces: state.traces,
                });
            }
            Err(e) => {
                self.paths.push(PathReport {
                    decisions: state.decisions,
                    outcome: Outcome::Error(e),
                    messages: state.delivered,
                    traces: state.traces,
                });
            }
        }
    }

    /// Steps every process until all are blocked or done, or one must choose.
    #[allow(clippy::type_complexity)]
    fn run(&self, state: &mut State<'a>) -> Result<Option<(usize, Vec<(usize, &'a str)>)>, String> {
        loop {
            let mut progressed = false;
            for p in 0..self.procs.len() {
                loop {
                    match self.step(state, p) {
                        Step::Progress => progressed = true,
                        Step::Choose(options) => return Ok(Some((p, options))),
                        Step::Blocked(_) | Step::Idle => break,
                        Step::Error(e) => return Err(e),
                    }
                }
            }
            if !progressed {
                return Ok(None);
            }
        }
    }

    fn outcome(&self, state: &mut State<'a>) -> Outcome {
        if state.status.contains(&Status::Bounded) {
            return Outcome::Bounded;
        }
        let mut waits = Vec::new();
        for p in 0..self.procs.len() {
            if let Step::Blocked(w) = self.step(state, p) {
                waits.push(format!("{} waits for {w}", self.procs[p].name));
            }
        }
        if !waits.is_empty() {
            return Outcome::Stuck(waits);
        }
        let left: Vec<String> = state
            .queues
            .iter()
            .flat_map(|((from, to), q)| {
                q.iter().map(move |l| {
                    format!(
                        "{l} from {} to {}",
                        self.procs[*from].name, self.procs[*to].name
                    )
                })
            })
            .collect();
        if left.is_empty() {
            Outcome::Finished
        } else {
            Outcome::Error(format!("messages never received: {}", left.join(", ")))
        }
    }

    /// One step of process `p`.
    fn step(&self, state: &mut State<'a>, p: usize) -> Step<'a> {
        if state.status[p] != Status::Running {
            return Step::Idle;
        }
        let stack = &state.stacks[p];
        let Some(top) = stack.last() else {
            state.status[p] = Status::Done;
            return Step::Progress;
        };
        match top.clone() {
            Frame::Seq { seq, pos } if pos == seq.len() => {
                state.stacks[p].pop();
                self.resume(state, p);
                Step::Progress
            }
            Frame::Seq { seq, pos } => self.action(state, p, &seq[pos]),
            Frame::Members {
                family,
                alts,
                members,
                next,
                current: None,
            } => {
                let from = members[next];
                match state
                    .queues
                    .get(&(from, p))
                    .and_then(|q| q.front())
                    .copied()
                {
                    None => Step::Blocked(format!(
                        "one of {} from {}",
                        labels(alts),
                        self.procs[from].name
                    )),
                    Some(label) => match alts.iter().find(|a| a.label == label) {
                        None => Step::Error(self.unexpected(p, from, label, &labels(alts))),
                        Some(alt) => {
                            self.dequeue(state, from, p);
                            self.trace(state, p, from, '?', alt.msg, label);
                            if let Some(Frame::Members { current, next, .. }) =
                                state.stacks[p].last_mut()
                            {
                                *current = Some(from - self.base[family]);
                                *next += 1;
                            }
                            state.stacks[p].push(Frame::Seq {
                                seq: &alt.body,
                                pos: 0,
                            });
                            Step::Progress
                        }
                    },
                }
            }
            Frame::Loop { .. }
            | Frame::Repeat { .. }
            | Frame::Foreach { .. }
            | Frame::Members { .. } => {
                self.resume(state, p);
                Step::Progress
            }
        }
    }

    /// Continues the frame on top of `p`'s stack after the sequence above it ended.
    fn resume(&self, state: &mut State<'a>, p: usize) {
        let stack = &mut state.stacks[p];
        let Some(top) = stack.last_mut() else { return };
        match top {
            Frame::Seq { .. } => {}
            // Markers were passed over (advanced) when they were pushed.
            Frame::Loop { .. } => {
                stack.pop();
            }
            Frame::Repeat { body, left } => {
                if *left > 0 {
                    *left -= 1;
                    let body = *body;
                    stack.push(Frame::Seq { seq: body, pos: 0 });
                } else {
                    stack.pop();
                }
            }
            Frame::Foreach { body, k, n, .. } => {
                if *k + 1 < *n {
                    *k += 1;
                    let body = *body;
                    stack.push(Frame::Seq { seq: body, pos: 0 });
                } else {
                    stack.pop();
                }
            }
            Frame::Members {
                members,
                next,
                current,
                ..
            } => {
                *current = None;
                if *next == members.len() {
                    stack.pop();
                }
            }
        }
    }

    fn action(&self, state: &mut State<'a>, p: usize, action: &'a Action) -> Step<'a> {
        match action {
            Action::Send { to, label, msg } => {
                let targets = match self.resolve(state, p, to) {
                    Ok(t) => t,
                    Err(e) => return Step::Error(e),
                };
                for t in targets {
                    state.queues.entry((p, t)).or_default().push_back(label);
                    self.trace(state, p, t, '!', *msg, label);
                }
                advance(&mut state.stacks[p]);
                Step::Progress
            }
            Action::Recv { from, label, msg } => {
                let senders = match self.resolve(state, p, from) {
                    Ok(s) => s,
                    Err(e) => return Step::Error(e),
                };
                for &s in &senders {
                    match state.queues.get(&(s, p)).and_then(|q| q.front()) {
                        None => {
                            return Step::Blocked(format!("{label} from {}", self.procs[s].name))
                        }
                        Some(got) if got != label => {
                            return Step::Error(self.unexpected(p, s, got, label))
                        }
                        Some(_) => {}
                    }
                }
                for s in senders {
                    self.dequeue(state, s, p);
                    self.trace(state, p, s, '?', *msg, label);
                }
                advance(&mut state.stacks[p]);
                Step::Progress
            }
            Action::Select { branches, .. } => {
                let at_bound = matches!(
                    state.stacks[p].iter().rev().nth(1),
                    Some(Frame::Loop { rounds, .. }) if *rounds >= self.config.max_rounds
                );
                let options: Vec<(usize, &'a str)> = branches
                    .iter()
                    .enumerate()
                    .filter(|(_, (l, _))| !(at_bound && l == "Continue"))
                    .map(|(i, (l, _))| (i, l.as_str()))
                    .collect();
                Step::Choose(options)
            }
            Action::Branch { from, alts } => {
                let multi = matches!(from.sel, Sel::All | Sel::Range(..))
                    && focus(&state.stacks[p], from.role).is_none();
                let senders = match self.resolve(state, p, from) {
                    Ok(s) => s,
                    Err(e) => return Step::Error(e),
                };
                if multi {
                    advance(&mut state.stacks[p]);
                    state.stacks[p].push(Frame::Members {
                        family: from.role,
                        alts,
                        members: senders,
                        next: 0,
                        current: None,
                    });
                    return Step::Progress;
                }
                let s = senders[0];
                match state.queues.get(&(s, p)).and_then(|q| q.front()).copied() {
                    None => Step::Blocked(format!(
                        "one of {} from {}",
                        labels(alts),
                        self.procs[s].name
                    )),
                    Some(label) => match alts.iter().find(|a| a.label == label) {
                        None => Step::Error(self.unexpected(p, s, label, &labels(alts))),
                        Some(alt) => {
                            self.dequeue(state, s, p);
                            self.trace(state, p, s, '?', alt.msg, label);
                            advance(&mut state.stacks[p]);
                            state.stacks[p].push(Frame::Seq {
                                seq: &alt.body,
                                pos: 0,
                            });
                            Step::Progress
                        }
                    },
                }
            }
            Action::Loop { id, body } => {
                advance(&mut state.stacks[p]);
                let decided = match body.first() {
                    Some(Action::Select { branches: b, .. }) => b.iter().any(|(l, _)| l == "Done"),
                    Some(Action::Branch { alts, .. }) => alts.iter().any(|a| a.label == "Done"),
                    _ => false,
                };
                state.stacks[p].push(Frame::Loop {
                    id: *id,
                    body,
                    rounds: 0,
                    decided,
                });
                state.stacks[p].push(Frame::Seq { seq: body, pos: 0 });
                Step::Progress
            }
            Action::Jump(id) => {
                let stack = &mut state.stacks[p];
                while let Some(f) = stack.last() {
                    if matches!(f, Frame::Loop { id: l, .. } if l == id) {
                        break;
                    }
                    stack.pop();
                }
                let Some(Frame::Loop {
                    body,
                    rounds,
                    decided,
                    ..
                }) = stack.last_mut()
                else {
                    return Step::Error(format!(
                        "{}: jump to a loop that is not running",
                        self.procs[p].name
                    ));
                };
                *rounds += 1;
                if !*decided && *rounds >= self.config.max_rounds {
                    state.status[p] = Status::Bounded;
                    return Step::Idle;
                }
                let body = *body;
                stack.push(Frame::Seq { seq: body, pos: 0 });
                Step::Progress
            }
            Action::Repeat { count, body } => {
                let n = match count {
                    Count::Const(n) => *n,
                    Count::Param(name) => self
                        .config
                        .params
                        .get(name)
                        .copied()
                        .unwrap_or(self.config.default_repeat),
                };
                advance(&mut state.stacks[p]);
                if n > 0 {
                    state.stacks[p].push(Frame::Repeat { body, left: n - 1 });
                    state.stacks[p].push(Frame::Seq { seq: body, pos: 0 });
                }
                Step::Progress
            }
            Action::Foreach { family, var, body } => {
                let n = self.sizes[*family];
                advance(&mut state.stacks[p]);
                if n > 0 {
                    state.stacks[p].push(Frame::Foreach {
                        family: *family,
                        var,
                        body,
                        k: 0,
                        n,
                    });
                    state.stacks[p].push(Frame::Seq { seq: body, pos: 0 });
                }
                Step::Progress
            }
        }
    }

    /// The processes a participant stands for, seen from process `p`.
    fn resolve(
        &self,
        state: &State<'a>,
        p: usize,
        who: &Participant,
    ) -> Result<Vec<usize>, String> {
        let r = who.role;
        let base = self.base[r];
        let size = self.sizes[r];
        let family = &self.protocol.roles[r].name;
        let missing = |k: u64| {
            format!("`{family}[{k}]` does not exist: family `{family}` has {size} members here")
        };
        match &who.sel {
            Sel::Single => Ok(vec![base]),
            Sel::All => Ok(match focus(&state.stacks[p], r) {
                Some(m) => vec![base + m],
                None => (base..base + size).collect(),
            }),
            Sel::Member(k) if (*k as usize) < size => Ok(vec![base + *k as usize]),
            Sel::Member(k) => Err(missing(*k)),
            Sel::Range(a, b) if (*b as usize) <= size => {
                Ok((base + *a as usize..base + *b as usize).collect())
            }
            Sel::Range(_, b) => Err(missing(*b - 1)),
            Sel::Var(v) => {
                let bound = state.stacks[p].iter().rev().find_map(|f| match f {
                    Frame::Foreach { family, var, k, .. } if *family == r && *var == v.as_str() => {
                        Some(*k)
                    }
                    _ => None,
                });
                match (bound, self.procs[p].role == r) {
                    (Some(k), _) => Ok(vec![base + k]),
                    // A member's own round: the variable is the member itself.
                    (None, true) => Ok(vec![p]),
                    (None, false) => {
                        Err(format!("{}: index `{v}` is not bound", self.procs[p].name))
                    }
                }
            }
        }
    }

    /// Records, in `p`'s trace, a message of the protocol sent to (`!`) or
    /// received from (`?`) process `peer`.
    fn trace(
        &self,
        state: &mut State<'a>,
        p: usize,
        peer: usize,
        dir: char,
        msg: MsgRef,
        label: &str,
    ) {
        if let MsgRef::Stmt(_) = msg {
            state.traces[p].push(format!("{dir}{}.{label}", self.procs[peer].name));
        }
    }

    fn dequeue(&self, state: &mut State<'a>, from: usize, to: usize) {
        if let Some(q) = state.queues.get_mut(&(from, to)) {
            q.pop_front();
            if q.is_empty() {
                state.queues.remove(&(from, to));
            }
            state.delivered += 1;
        }
    }

    fn unexpected(&self, p: usize, from: usize, got: &str, expected: &str) -> String {
        format!(
            "{} received {got} from {} but expected {expected}",
            self.procs[p].name, self.procs[from].name
        )
    }
}

/// The member of `family` whose alternative is running, if any.
fn focus(stack: &[Frame<'_>], family: usize) -> Option<usize> {
    stack.iter().rev().find_map(|f| match f {
        Frame::Members {
            family: f,
            current: Some(m),
            ..
        } if *f == family => Some(*m),
        _ => None,
    })
}

fn labels(alts: &[Alt]) -> String {
    alts.iter()
        .map(|a| a.label.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Moves the sequence on top of `stack` past its current action.
fn advance(stack: &mut [Frame<'_>]) {
    if let Some(Frame::Seq { pos, .. }) = stack.last_mut() {
        *pos += 1;
    }
}

/// Takes branch `i` of the internal choice at the current action of `stack`.
fn choose(stack: &mut Vec<Frame<'_>>, i: usize) {
    let Some(Frame::Seq { seq, pos }) = stack.last_mut() else {
        return;
    };
    let Action::Select { branches, .. } = &seq[*pos] else {
        return;
    };
    *pos += 1;
    let body = &branches[i].1;
    stack.push(Frame::Seq { seq: body, pos: 0 });
}
