//! Whether a recorded trace is a path of the protocol: the trace of one peer
//! (`!Guardian[0].ProposeRotation`, `?Initiator.CommitCeremony`, in order)
//! is run as input through that peer's projected local type. Internal choices,
//! loop decisions and symbolic `repeat` counts are resolved by the trace
//! itself (every alternative is tried); family sizes are those the trace
//! shows (the highest member index named, or the peer's own, plus one; the
//! size in the source when it is fixed). A fan-out or fan-in to several
//! members may be recorded in any order of the members, and the members of
//! a family's choice may be heard in any order.

use crate::check::model::{Count, FamilySize, Participant, Protocol, Sel};
use crate::project::local::{Action, Alt};
use crate::project::{Projection, Target};

/// The most interpreter states explored for one trace before giving up.
const BUDGET: usize = 200_000;
/// Family sizes tried for a family that the trace never names.
const UNSEEN_SIZES: usize = 8;

/// One recorded message: direction, peer (role and member) and label.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    send: bool,
    role: usize,
    member: Option<usize>,
    label: String,
}

/// Checks that `trace` is a complete path of `peer`'s local type: `Ok`, or
/// why not (the first message that no path of the protocol allows, or a
/// session that stops early).
pub fn accepts(
    protocol: &Protocol,
    projection: &Projection,
    peer: &str,
    trace: &[String],
) -> Result<(), String> {
    let (role, member) = parse_peer(protocol, peer).ok_or_else(|| format!("no peer `{peer}`"))?;
    let events = trace
        .iter()
        .map(|e| parse_event(protocol, e).ok_or_else(|| format!("`{e}` is not a message")))
        .collect::<Result<Vec<_>, _>>()?;
    let target = match (member, protocol.roles[role].family.is_some()) {
        (None, false) => Target::Role(role),
        (Some(k), true) => {
            let singled = Target::Member(role, k as u64);
            if projection.locals.iter().any(|l| l.target == singled) {
                singled
            } else {
                Target::Others(role)
            }
        }
        _ => return Err(format!("`{peer}` does not name a peer of the protocol")),
    };
    let local = projection
        .locals
        .iter()
        .find(|l| l.target == target)
        .ok_or_else(|| format!("no local type for `{peer}`"))?;
    let mut best = 0;
    for sizes in candidate_sizes(protocol, role, member, &events) {
        let mut m = Matcher {
            me: (role, member),
            sizes: &sizes,
            events: &events,
            budget: BUDGET,
            furthest: 0,
        };
        let start = State {
            stack: vec![Frame::Seq {
                seq: &local.body,
                pos: 0,
            }],
            at: 0,
        };
        if m.search(start) {
            return Ok(());
        }
        if m.budget == 0 {
            return Err(format!(
                "the trace ({} messages) is too long to check",
                trace.len()
            ));
        }
        best = best.max(m.furthest);
    }
    Err(match trace.get(best) {
        Some(e) => format!(
            "message {} (`{e}`) is on no path of `{}`",
            best + 1,
            local.name
        ),
        None => format!(
            "the trace stops after {} messages, before `{}` ends",
            trace.len(),
            local.name
        ),
    })
}

fn parse_peer(protocol: &Protocol, peer: &str) -> Option<(usize, Option<usize>)> {
    let (name, member) = match peer.strip_suffix(']').and_then(|p| p.split_once('[')) {
        Some((name, k)) => (name, Some(k.parse().ok()?)),
        None => (peer, None),
    };
    let role = protocol.roles.iter().position(|r| r.name == name)?;
    Some((role, member))
}

fn parse_event(protocol: &Protocol, text: &str) -> Option<Event> {
    let send = match text.as_bytes().first()? {
        b'!' => true,
        b'?' => false,
        _ => return None,
    };
    let (peer, label) = text[1..].rsplit_once('.')?;
    let (role, member) = parse_peer(protocol, peer)?;
    if member.is_some() != protocol.roles[role].family.is_some() {
        return None;
    }
    Some(Event {
        send,
        role,
        member,
        label: label.to_string(),
    })
}

/// The family sizes to try: what the trace shows for families it names,
/// every size up to a bound for the others (their size cannot change what
/// the trace holds, except through a `foreach` whose rounds name no member).
fn candidate_sizes(
    protocol: &Protocol,
    role: usize,
    member: Option<usize>,
    events: &[Event],
) -> Vec<Vec<usize>> {
    let mut seen: Vec<Option<usize>> = vec![None; protocol.roles.len()];
    let mut note = |r: usize, k: usize| seen[r] = Some(seen[r].map_or(k + 1, |n| n.max(k + 1)));
    if let Some(k) = member {
        note(role, k);
    }
    for e in events {
        if let Some(k) = e.member {
            note(e.role, k);
        }
    }
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for (r, decl) in protocol.roles.iter().enumerate() {
        let options: Vec<usize> = match (&decl.family, seen[r]) {
            (None, _) => vec![1],
            (Some(FamilySize::Fixed(n)), _) => vec![*n as usize],
            (Some(_), Some(n)) => vec![n],
            (Some(_), None) if out.len() * UNSEEN_SIZES <= 64 => (1..=UNSEEN_SIZES).collect(),
            (Some(_), None) => vec![1],
        };
        out = out
            .into_iter()
            .flat_map(|prefix| {
                options.iter().map(move |&n| {
                    let mut v = prefix.clone();
                    v.push(n);
                    v
                })
            })
            .collect();
    }
    out
}

#[derive(Clone, Debug)]
enum Frame<'a> {
    Seq {
        seq: &'a [Action],
        pos: usize,
    },
    /// A running `mu`; `start` is where in the trace the current round began.
    Loop {
        id: usize,
        body: &'a [Action],
        start: usize,
    },
    /// `left`: rounds still to run, or `None` for a symbolic count.
    Repeat {
        body: &'a [Action],
        left: Option<u64>,
        start: usize,
    },
    Foreach {
        family: usize,
        var: &'a str,
        body: &'a [Action],
        k: usize,
        n: usize,
    },
    /// An external choice made by each of several members, heard in any order.
    Members {
        family: usize,
        alts: &'a [Alt],
        waiting: Vec<usize>,
        current: Option<usize>,
    },
}

#[derive(Clone, Debug)]
struct State<'a> {
    stack: Vec<Frame<'a>>,
    at: usize,
}

struct Matcher<'b> {
    me: (usize, Option<usize>),
    sizes: &'b [usize],
    events: &'b [Event],
    budget: usize,
    furthest: usize,
}

impl<'a> Matcher<'_> {
    /// Depth-first: whether some way of running `state` consumes the whole
    /// trace and ends the local type.
    fn search(&mut self, mut state: State<'a>) -> bool {
        loop {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            self.furthest = self.furthest.max(state.at);
            let Some(top) = state.stack.last().cloned() else {
                return state.at == self.events.len();
            };
            let step = match top {
                Frame::Seq { seq, pos } if pos == seq.len() => {
                    state.stack.pop();
                    self.resume(&mut state)
                }
                Frame::Seq { seq, pos } => {
                    advance(&mut state.stack);
                    self.action(&mut state, &seq[pos])
                }
                Frame::Members {
                    family,
                    alts,
                    waiting,
                    current: None,
                } => self.member_choice(&mut state, family, alts, &waiting),
                Frame::Members { .. }
                | Frame::Loop { .. }
                | Frame::Repeat { .. }
                | Frame::Foreach { .. } => self.resume(&mut state),
            };
            match step {
                Step::Go => {}
                Step::Dead => return false,
                Step::Either(others) => return others.into_iter().any(|s| self.search(s)),
            }
        }
    }

    /// The next choice of one of the members still `waiting`, by the member
    /// the trace names.
    fn member_choice(
        &mut self,
        state: &mut State<'a>,
        family: usize,
        alts: &'a [Alt],
        waiting: &[usize],
    ) -> Step<'a> {
        if waiting.is_empty() {
            state.stack.pop();
            return Step::Go;
        }
        let Some(e) = self.events.get(state.at) else {
            return Step::Dead;
        };
        let Some(k) = e
            .member
            .filter(|k| !e.send && e.role == family && waiting.contains(k))
        else {
            return Step::Dead;
        };
        let Some(alt) = alts.iter().find(|a| a.label == e.label) else {
            return Step::Dead;
        };
        state.at += 1;
        if let Some(Frame::Members {
            waiting, current, ..
        }) = state.stack.last_mut()
        {
            waiting.retain(|w| *w != k);
            *current = Some(k);
        }
        state.stack.push(Frame::Seq {
            seq: &alt.body,
            pos: 0,
        });
        Step::Go
    }

    /// What follows the end of a sequence, for the frame now on top.
    fn resume(&mut self, state: &mut State<'a>) -> Step<'a> {
        let at = state.at;
        let Some(top) = state.stack.last_mut() else {
            return Step::Go;
        };
        match top {
            Frame::Seq { .. } => {}
            Frame::Members { current, .. } => *current = None,
            Frame::Loop { .. } => {
                state.stack.pop();
            }
            Frame::Repeat { body, left, start } => {
                let body = *body;
                match left {
                    Some(0) => {
                        state.stack.pop();
                    }
                    Some(n) => {
                        *n -= 1;
                        *start = at;
                        state.stack.push(Frame::Seq { seq: body, pos: 0 });
                    }
                    None => {
                        // Another round only if the last one said or heard anything.
                        let progressed = at > *start;
                        *start = at;
                        let mut again = state.clone();
                        state.stack.pop();
                        if progressed {
                            again.stack.push(Frame::Seq { seq: body, pos: 0 });
                            return Step::Either(vec![again, state.clone()]);
                        }
                    }
                }
            }
            Frame::Foreach { body, k, n, .. } => {
                if *k + 1 < *n {
                    *k += 1;
                    let body = *body;
                    state.stack.push(Frame::Seq { seq: body, pos: 0 });
                } else {
                    state.stack.pop();
                }
            }
        }
        Step::Go
    }

    fn action(&mut self, state: &mut State<'a>, action: &'a Action) -> Step<'a> {
        match action {
            Action::Send { to, label, .. } => self.messages(state, true, to, label),
            Action::Recv { from, label, .. } => self.messages(state, false, from, label),
            Action::Select { branches, .. } => Step::Either(
                branches
                    .iter()
                    .map(|(_, body)| {
                        let mut next = state.clone();
                        next.stack.push(Frame::Seq { seq: body, pos: 0 });
                        next
                    })
                    .collect(),
            ),
            Action::Branch { from, alts } => self.branch(state, from, alts),
            Action::Loop { id, body } => {
                state.stack.push(Frame::Loop {
                    id: *id,
                    body,
                    start: state.at,
                });
                state.stack.push(Frame::Seq { seq: body, pos: 0 });
                Step::Go
            }
            Action::Jump(id) => {
                while let Some(f) = state.stack.last() {
                    if matches!(f, Frame::Loop { id: l, .. } if l == id) {
                        break;
                    }
                    state.stack.pop();
                }
                let at = state.at;
                let Some(Frame::Loop { body, start, .. }) = state.stack.last_mut() else {
                    return Step::Dead;
                };
                // A round that said and heard nothing cannot be told from the next.
                if *start == at {
                    return Step::Dead;
                }
                *start = at;
                let body = *body;
                state.stack.push(Frame::Seq { seq: body, pos: 0 });
                Step::Go
            }
            Action::Repeat { count, body } => {
                let mut round = state.clone();
                round.stack.push(Frame::Repeat {
                    body,
                    left: match count {
                        Count::Const(0) => return Step::Go,
                        Count::Const(n) => Some(n - 1),
                        Count::Param(_) => None,
                    },
                    start: state.at,
                });
                round.stack.push(Frame::Seq { seq: body, pos: 0 });
                match count {
                    Count::Const(_) => {
                        *state = round;
                        Step::Go
                    }
                    // A symbolic count may be zero.
                    Count::Param(_) => Step::Either(vec![round, state.clone()]),
                }
            }
            Action::Foreach { family, var, body } => {
                let n = self.sizes[*family];
                if n > 0 {
                    state.stack.push(Frame::Foreach {
                        family: *family,
                        var,
                        body,
                        k: 0,
                        n,
                    });
                    state.stack.push(Frame::Seq { seq: body, pos: 0 });
                }
                Step::Go
            }
        }
    }

    /// An external choice: told apart by the label the trace received.
    fn branch(&mut self, state: &mut State<'a>, from: &Participant, alts: &'a [Alt]) -> Step<'a> {
        let multi = matches!(from.sel, Sel::All | Sel::Range(..))
            && focus(&state.stack, from.role).is_none();
        let Some(peers) = self.resolve(state, from) else {
            return Step::Dead;
        };
        if multi {
            state.stack.push(Frame::Members {
                family: from.role,
                alts,
                waiting: peers,
                current: None,
            });
            return Step::Go;
        }
        let ([peer], Some(e)) = (peers.as_slice(), self.events.get(state.at)) else {
            return Step::Dead;
        };
        if e.send || e.role != from.role || e.member.unwrap_or(0) != *peer {
            return Step::Dead;
        }
        let Some(alt) = alts.iter().find(|a| a.label == e.label) else {
            return Step::Dead;
        };
        state.at += 1;
        state.stack.push(Frame::Seq {
            seq: &alt.body,
            pos: 0,
        });
        Step::Go
    }

    /// A send or receive with every member `who` stands for, in any order.
    fn messages(
        &mut self,
        state: &mut State<'a>,
        send: bool,
        who: &Participant,
        label: &str,
    ) -> Step<'a> {
        let Some(mut peers) = self.resolve(state, who) else {
            return Step::Dead;
        };
        let n = peers.len();
        let Some(window) = self.events.get(state.at..state.at + n) else {
            return Step::Dead;
        };
        for e in window {
            if e.send != send || e.label != label || e.role != who.role {
                return Step::Dead;
            }
            let k = e.member.unwrap_or(0);
            match peers.iter().position(|p| *p == k) {
                Some(i) => {
                    peers.swap_remove(i);
                }
                None => return Step::Dead,
            }
        }
        state.at += n;
        Step::Go
    }

    /// The members (0 for a single role) a participant stands for here.
    fn resolve(&self, state: &State<'a>, who: &Participant) -> Option<Vec<usize>> {
        let r = who.role;
        let size = self.sizes[r];
        match &who.sel {
            Sel::Single => Some(vec![0]),
            Sel::All => Some(match focus(&state.stack, r) {
                Some(m) => vec![m],
                None => (0..size).collect(),
            }),
            Sel::Member(k) => ((*k as usize) < size).then(|| vec![*k as usize]),
            Sel::Range(a, b) => {
                ((*b as usize) <= size).then(|| (*a as usize..*b as usize).collect())
            }
            Sel::Var(v) => {
                let bound = state.stack.iter().rev().find_map(|f| match f {
                    Frame::Foreach { family, var, k, .. } if *family == r && *var == v.as_str() => {
                        Some(*k)
                    }
                    _ => None,
                });
                match (bound, self.me) {
                    (Some(k), _) => Some(vec![k]),
                    (None, (role, Some(k))) if role == r => Some(vec![k]),
                    _ => None,
                }
            }
        }
    }
}

/// What one step of the interpreter leads to.
enum Step<'a> {
    /// Go on with the state as changed.
    Go,
    /// No path of the local type allows the trace from here.
    Dead,
    /// Try each of these states.
    Either(Vec<State<'a>>),
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

/// Moves the sequence on top of `stack` past its current action.
fn advance(stack: &mut [Frame<'_>]) {
    if let Some(Frame::Seq { pos, .. }) = stack.last_mut() {
        *pos += 1;
    }
}
