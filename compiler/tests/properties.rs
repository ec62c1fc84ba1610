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

mod gen;
use gen::generate;

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
