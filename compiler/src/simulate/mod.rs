//! Runs every role of a protocol together, in one process, by interpreting
//! the projected local types over in-memory FIFO channels, and explores
//! every combination of choices and loop decisions up to a bound. A path on
//! which some role can never go on is reported with each stuck role and the
//! action it waits on.
//!
//! Families are instantiated with concrete sizes; each member runs the local
//! type of its target (its own line if singled out, the family's otherwise).
//! Channels are asynchronous and FIFO per ordered pair of processes, and each
//! receive names its sender, so the order in which processes are stepped does
//! not change the outcome: only choices branch the exploration.

mod machine;

use crate::check::model::{FamilySize, Protocol};
use crate::project::{Projection, Target};
use std::collections::BTreeMap;
use std::fmt;

pub use machine::Outcome;

/// Bounds and sizes for a simulation.
#[derive(Clone, Debug)]
pub struct Config {
    /// Members per family by family name; families not named use their fixed
    /// size, or `default_family_size`.
    pub families: BTreeMap<String, usize>,
    /// Values of symbolic `loop repeat` counts; unnamed ones use `default_repeat`.
    pub params: BTreeMap<String, u64>,
    /// Size of families whose size is not fixed and not given.
    pub default_family_size: usize,
    /// Rounds of `loop repeat N` with a symbolic `N` that is not given.
    pub default_repeat: u64,
    /// How many complete paths to explore at most.
    pub max_paths: usize,
    /// How many rounds a `loop decide by` or `loop forever` may run on one path.
    pub max_rounds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            families: BTreeMap::new(),
            params: BTreeMap::new(),
            default_family_size: 3,
            default_repeat: 2,
            max_paths: 1000,
            max_rounds: 2,
        }
    }
}

/// One explored path: the decisions taken and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathReport {
    /// The decisions, in order: `Role: label`.
    pub decisions: Vec<String>,
    /// How the path ended.
    pub outcome: Outcome,
    /// Messages delivered on the path.
    pub messages: usize,
    /// Per process (in [`Report::processes`] order): the protocol's messages
    /// it sent and received, as `!Peer.Label` / `?Peer.Label`.
    pub traces: Vec<Vec<String>>,
}

/// The result of simulating one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The protocol.
    pub protocol: String,
    /// The processes run: `Role` or `Family[k]`.
    pub processes: Vec<String>,
    /// Every explored path, in exploration order.
    pub paths: Vec<PathReport>,
    /// Whether `max_paths` stopped the exploration early.
    pub truncated: bool,
}

impl Report {
    /// Whether every explored path ended with every role finished (or was
    /// cut at the round bound).
    pub fn ok(&self) -> bool {
        self.paths
            .iter()
            .all(|p| !matches!(p.outcome, Outcome::Stuck(_) | Outcome::Error(_)))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}): {} path(s)",
            self.protocol,
            self.processes.join(", "),
            self.paths.len()
        )?;
        for (i, p) in self.paths.iter().enumerate() {
            let decisions = if p.decisions.is_empty() {
                "no choices".into()
            } else {
                p.decisions.join(", ")
            };
            match &p.outcome {
                Outcome::Finished => writeln!(
                    f,
                    "  path {}: [{decisions}] every role finished, {} messages",
                    i + 1,
                    p.messages
                )?,
                Outcome::Bounded => writeln!(
                    f,
                    "  path {}: [{decisions}] cut at the round bound, {} messages",
                    i + 1,
                    p.messages
                )?,
                Outcome::Stuck(waits) => {
                    writeln!(f, "  path {}: [{decisions}] STUCK", i + 1)?;
                    for w in waits {
                        writeln!(f, "    {w}")?;
                    }
                }
                Outcome::Error(e) => writeln!(f, "  path {}: [{decisions}] ERROR: {e}", i + 1)?,
            }
        }
        if self.truncated {
            writeln!(
                f,
                "  (stopped after {} paths: --max-paths)",
                self.paths.len()
            )?;
        }
        Ok(())
    }
}

/// Simulates `protocol` from its projection.
pub fn simulate(protocol: &Protocol, projection: &Projection, config: &Config) -> Report {
    let sizes: Vec<usize> = protocol
        .roles
        .iter()
        .map(|r| match &r.family {
            None => 1,
            Some(size) => config.families.get(&r.name).copied().unwrap_or(match size {
                FamilySize::Fixed(n) => *n as usize,
                _ => config.default_family_size,
            }),
        })
        .collect();
    // One process per single role and per family member, in declaration order.
    let mut procs = Vec::new();
    for (r, role) in protocol.roles.iter().enumerate() {
        let n = if role.family.is_some() { sizes[r] } else { 1 };
        for k in 0..n {
            let index = role.family.is_some().then_some(k);
            let target = match index {
                None => Target::Role(r),
                Some(k) => {
                    let mine = Target::Member(r, k as u64);
                    if projection.locals.iter().any(|l| l.target == mine) {
                        mine
                    } else {
                        Target::Others(r)
                    }
                }
            };
            let name = match index {
                None => role.name.clone(),
                Some(k) => format!("{}[{k}]", role.name),
            };
            procs.push(machine::ProcSpec {
                role: r,
                name,
                target,
            });
        }
    }
    machine::explore(protocol, projection, &sizes, procs, config)
}
