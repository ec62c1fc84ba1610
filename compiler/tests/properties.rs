//! Property tests over generated input.
//!
//! 1. Projection: in a generated well-formed protocol, every message appears
//!    exactly once as a send in its sender's local type and exactly once as a
//!    receive in its receiver's, and nowhere else.
//! 2. Robustness: no input, however broken, makes the front end panic.

use choreoc::driver::compile;
use choreoc::project::local::{Action, MsgRef};
use choreoc::project::Target;
use proptest::prelude::*;
use std::collections::HashMap;

/// A small deterministic random source, so a failing case is reproducible
/// from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Generates a well-formed protocol: single roles `R0..Rk`, optionally a
/// family `F[N]`; messages with unique labels; choices in which the chooser
/// first tells every other role; loops of every kind; per-member rounds.
struct Gen {
    rng: Rng,
    roles: usize,
    family: bool,
    label: usize,
    out: String,
}

impl Gen {
    fn label(&mut self) -> String {
        self.label += 1;
        format!("M{}", self.label)
    }

    fn line(&mut self, depth: usize, text: &str) {
        self.out.push_str(&"  ".repeat(depth + 1));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn pair(&mut self) -> (String, String) {
        let a = self.rng.below(self.roles);
        let b = (a + 1 + self.rng.below(self.roles - 1)) % self.roles;
        (format!("R{a}"), format!("R{b}"))
    }

    fn tell_all(&mut self, depth: usize, from: usize) {
        for r in 0..self.roles {
            if r != from {
                let l = self.label();
                self.line(depth, &format!("R{from} -> R{r} : {l}"));
            }
        }
        if self.family {
            let l = self.label();
            self.line(depth, &format!("R{from} -> F[*] : {l}"));
        }
    }

    fn block(&mut self, depth: usize, budget: usize) {
        let n = 1 + self.rng.below(4);
        for _ in 0..n {
            self.stmt(depth, budget);
        }
    }

    fn stmt(&mut self, depth: usize, budget: usize) {
        let kind = if budget == 0 { 0 } else { self.rng.below(8) };
        match kind {
            0..=2 => {
                let (a, b) = self.pair();
                let l = self.label();
                self.line(depth, &format!("{a} -> {b} : {l}"));
            }
            3 if self.family => {
                let l = self.label();
                let r = self.rng.below(self.roles);
                if self.rng.below(2) == 0 {
                    self.line(depth, &format!("R{r} -> F[*] : {l}"));
                } else {
                    self.line(depth, &format!("F[*] -> R{r} : {l}"));
                }
            }
            4 => {
                let c = self.rng.below(self.roles);
                self.line(depth, &format!("case choose R{c} of"));
                let branches = 1 + self.rng.below(3);
                for b in 0..branches {
                    self.line(depth + 1, &format!("B{b} ->"));
                    self.tell_all(depth + 2, c);
                    if self.rng.below(2) == 0 {
                        self.block(depth + 2, budget - 1);
                    }
                }
            }
            5 => {
                let n = 1 + self.rng.below(3);
                self.line(depth, &format!("loop repeat {n}"));
                self.block(depth + 1, budget - 1);
            }
            6 => {
                let d = self.rng.below(self.roles);
                self.line(depth, &format!("loop decide by R{d}"));
                self.tell_all(depth + 1, d);
                self.block(depth + 1, budget - 1);
            }
            _ if self.family => {
                let r = self.rng.below(self.roles);
                self.line(depth, "for w in F");
                let (l1, l2) = (self.label(), self.label());
                self.line(depth + 1, &format!("R{r} -> F[w] : {l1}"));
                self.line(depth + 1, &format!("F[w] -> R{r} : {l2}"));
            }
            _ => {
                let (a, b) = self.pair();
                let l = self.label();
                self.line(depth, &format!("{a} -> {b} : {l}"));
            }
        }
    }
}

fn generate(seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let roles = 2 + rng.below(4);
    let family = rng.below(2) == 0;
    let mut g = Gen {
        rng,
        roles,
        family,
        label: 0,
        out: String::new(),
    };
    let mut names: Vec<String> = (0..roles).map(|r| format!("R{r}")).collect();
    if family {
        names.push("F[N]".into());
    }
    g.out = format!("protocol Gen =\n  roles {}\n", names.join(", "));
    g.block(0, 3);
    // Make sure every role takes part (no unused-role warnings needed).
    g.tell_all(0, 0);
    g.out
}

fn count(seq: &[Action], sends: &mut HashMap<usize, usize>, recvs: &mut HashMap<usize, usize>) {
    for a in seq {
        match a {
            Action::Send {
                msg: MsgRef::Stmt(id),
                ..
            } => *sends.entry(*id).or_default() += 1,
            Action::Recv {
                msg: MsgRef::Stmt(id),
                ..
            } => *recvs.entry(*id).or_default() += 1,
            Action::Send { .. } | Action::Recv { .. } | Action::Jump(_) => {}
            Action::Select { branches, .. } => {
                branches.iter().for_each(|(_, b)| count(b, sends, recvs))
            }
            Action::Branch { alts, .. } => {
                for alt in alts {
                    if let MsgRef::Stmt(id) = alt.msg {
                        *recvs.entry(id).or_default() += 1;
                    }
                    count(&alt.body, sends, recvs);
                }
            }
            Action::Loop { body, .. }
            | Action::Repeat { body, .. }
            | Action::Foreach { body, .. } => count(body, sends, recvs),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_message_is_sent_once_and_received_once(seed in any::<u64>()) {
        let src = generate(seed);
        let unit = compile("gen.choreo", src.as_bytes());
        prop_assert!(!unit.has_errors(), "generated protocol rejected: {:?}\n{src}", unit.diagnostics);
        let module = unit.module.as_ref().unwrap();
        let protocol = &module.protocols[0];
        let (_, proj) = &unit.projections[0];
        let mut messages = Vec::new();
        choreoc::check::rules::each_message(&protocol.body, &mut |m| messages.push(m.clone()));
        for local in &proj.locals {
            let (mut sends, mut recvs) = (HashMap::new(), HashMap::new());
            count(&local.body, &mut sends, &mut recvs);
            for m in &messages {
                let is = |p: &choreoc::check::model::Participant| match local.target {
                    Target::Role(r) => p.role == r,
                    Target::Others(r) | Target::Member(r, _) => p.role == r,
                };
                let expect_send = usize::from(is(&m.from));
                let expect_recv = usize::from(is(&m.to));
                prop_assert_eq!(sends.get(&m.id).copied().unwrap_or(0), expect_send,
                    "message {} ({}) sends in {}\n{}", m.id, m.label, local.name, src);
                prop_assert_eq!(recvs.get(&m.id).copied().unwrap_or(0), expect_recv,
                    "message {} ({}) receives in {}\n{}", m.id, m.label, local.name, src);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,300}") {
        let _ = compile("any.choreo", src.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = compile("any.choreo", &bytes);
    }

    #[test]
    fn damaged_protocols_never_panic(seed in any::<u64>(), cut in 0usize..2000, junk in "[ \\t\\n{}()\\[\\]:;,=*.@\"a-zA-Z0-9>-]{0,8}") {
        let src = generate(seed);
        let at = cut.min(src.len());
        let mut damaged = src[..at].to_string();
        damaged.push_str(&junk);
        damaged.push_str(&src[at..]);
        let _ = compile("damaged.choreo", damaged.as_bytes());
        let _ = compile("truncated.choreo", &src.as_bytes()[..at]);
    }
}
