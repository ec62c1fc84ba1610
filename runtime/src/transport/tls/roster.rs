//! The `[roster.PROTOCOL]` sections of a node configuration: for each
//! protocol whose sessions the node takes part in, the size of each role
//! family and the node each peer runs on. The peers bound to the node's own
//! name are the ones it plays. See `docs/deployment.md`.
//!
//! ```toml
//! [roster.GuardianCeremony]
//! families = { Guardian = 3 }
//! receive_timeout_ms = 10000
//!
//! [roster.GuardianCeremony.nodes]
//! Initiator = "initiator"
//! "Guardian[0]" = "guardian-0"
//! ```
//!
//! A section is checked twice: on load, for what can be checked without the
//! protocol (peer names, sizes, nodes that are neither this node nor a
//! peer), and by [`RosterConfig::resolve`] against the protocol's roles.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::protocol::Protocol;
use crate::roster::{Peer, Roster};
use crate::transport::contract::NodeId;

use super::config::{ConfigProblem, NodeConfig};

/// One party of a roster as a configuration names it: `Initiator`, `Guardian[2]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerName {
    /// The role (or family) name.
    pub role: String,
    /// The member index, for a family member.
    pub member: Option<u32>,
}

impl FromStr for PeerName {
    type Err = ();

    /// `Role` or `Family[k]`; the name is an identifier, `k` a decimal index.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (role, member) = match s.strip_suffix(']').and_then(|s| s.split_once('[')) {
            Some((role, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => {
                (role, Some(k.parse().map_err(|_| ())?))
            }
            Some(_) => return Err(()),
            None => (s, None),
        };
        let mut chars = role.chars();
        let ident = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(());
        }
        Ok(PeerName {
            role: role.to_string(),
            member,
        })
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.member {
            Some(k) => write!(f, "{}[{k}]", self.role),
            None => f.write_str(&self.role),
        }
    }
}

/// One protocol's section: family sizes, where peers run, the receive timeout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RosterConfig {
    /// The size of each role family, by family name.
    pub families: BTreeMap<String, u32>,
    /// The node each listed peer runs on; a peer not listed runs on the node
    /// named like it (`Guardian[2]`), as in [`Roster::node_of`].
    pub nodes: BTreeMap<PeerName, NodeId>,
    /// How long a session of this protocol waits for a message (the node's
    /// default when `None`).
    pub receive_timeout: Option<Duration>,
}

/// Where this node stands in one protocol's sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Every party and the node it runs on, for `Node::session` and `Node::listen`.
    pub roster: Roster,
    /// The peers this node plays, in the protocol's order.
    pub plays: Vec<Peer>,
    /// Every party on another node, with that node, in the protocol's order.
    pub others: Vec<(Peer, NodeId)>,
    /// The section's receive timeout, if it sets one.
    pub receive_timeout: Option<Duration>,
}

/// Why a roster section does not fit its protocol or its node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RosterProblem {
    /// The configuration has no section for the protocol.
    #[error("no [roster.{protocol}] section")]
    NoSection {
        /// The protocol's name.
        protocol: String,
    },
    /// A name that is not a role of the protocol.
    #[error("roster.{protocol}: {name:?} is not a role of {protocol}")]
    UnknownRole {
        /// The protocol.
        protocol: String,
        /// The name given.
        name: String,
    },
    /// A size given to a single role, or a member index to a single role.
    #[error("roster.{protocol}: {name:?} is a single role, not a family")]
    NotAFamily {
        /// The protocol.
        protocol: String,
        /// The role.
        name: String,
    },
    /// A family named without a member index in `nodes`.
    #[error("roster.{protocol}.nodes: {name:?} is a family: name one member, as {name}[0]")]
    MemberNeeded {
        /// The protocol.
        protocol: String,
        /// The family.
        name: String,
    },
    /// A family of the protocol without a size in `families`.
    #[error("roster.{protocol}.families: no size for the family {name:?}")]
    NoSize {
        /// The protocol.
        protocol: String,
        /// The family.
        name: String,
    },
    /// A member index not below its family's size.
    #[error("roster.{protocol}.nodes: {peer} is outside its family of {size}")]
    MemberOutOfRange {
        /// The protocol.
        protocol: String,
        /// The peer.
        peer: String,
        /// The family's size.
        size: u32,
    },
    /// A peer runs on a node that is neither this node nor one of its peers.
    #[error("roster.{protocol}: {peer} runs on node {node}, which is neither this node nor one of its peers")]
    UnknownNode {
        /// The protocol.
        protocol: String,
        /// The peer.
        peer: String,
        /// The node.
        node: NodeId,
    },
    /// No peer of the protocol runs on this node.
    #[error("roster.{protocol}: node {node} plays no peer of {protocol}")]
    PlaysNothing {
        /// The protocol.
        protocol: String,
        /// This node.
        node: NodeId,
    },
}

impl RosterConfig {
    /// Lays out `protocol`'s parties as this section says, for the node
    /// `config` describes: the roster, the peers the node plays and where the
    /// others run (each must be this node or one of its peers).
    pub fn resolve(
        &self,
        protocol: &'static Protocol,
        config: &NodeConfig,
    ) -> Result<Placement, RosterProblem> {
        let p = || protocol.name.to_string();
        let decl = |name: &str| {
            protocol
                .roles
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| RosterProblem::UnknownRole {
                    protocol: p(),
                    name: name.to_string(),
                })
        };
        for family in self.families.keys() {
            if !decl(family)?.family {
                return Err(RosterProblem::NotAFamily {
                    protocol: p(),
                    name: family.clone(),
                });
            }
        }
        let mut roster = Roster::new();
        let mut parties = Vec::new();
        for role in protocol.roles {
            if role.family {
                let size = *self
                    .families
                    .get(role.name)
                    .ok_or_else(|| RosterProblem::NoSize {
                        protocol: p(),
                        name: role.name.to_string(),
                    })?;
                roster = roster.with_family(role.name, size);
                parties.extend((0..size).map(|k| Peer::member(role.name, k)));
            } else {
                roster = roster.with_role(role.name);
                parties.push(Peer::role(role.name));
            }
        }
        for (peer, node) in &self.nodes {
            let role = decl(&peer.role)?;
            match (role.family, peer.member) {
                (false, Some(_)) => {
                    return Err(RosterProblem::NotAFamily {
                        protocol: p(),
                        name: peer.role.clone(),
                    })
                }
                (true, None) => {
                    return Err(RosterProblem::MemberNeeded {
                        protocol: p(),
                        name: peer.role.clone(),
                    })
                }
                (true, Some(k)) => {
                    let size = roster.family_size(role.name).unwrap_or(0);
                    if k >= size {
                        return Err(RosterProblem::MemberOutOfRange {
                            protocol: p(),
                            peer: peer.to_string(),
                            size,
                        });
                    }
                }
                (false, None) => {}
            }
            roster = roster.bind(role.name, peer.member, node.clone());
        }
        let mut plays = Vec::new();
        let mut others = Vec::new();
        for peer in parties {
            let node = roster.node_of(peer.name(), peer.index());
            if node == config.name {
                plays.push(peer);
            } else if config.peer(&node).is_some() {
                others.push((peer, node));
            } else {
                return Err(RosterProblem::UnknownNode {
                    protocol: p(),
                    peer: peer.to_string(),
                    node,
                });
            }
        }
        if plays.is_empty() {
            return Err(RosterProblem::PlaysNothing {
                protocol: p(),
                node: config.name.clone(),
            });
        }
        Ok(Placement {
            roster,
            plays,
            others,
            receive_timeout: self.receive_timeout,
        })
    }
}

impl NodeConfig {
    /// Where this node stands in `protocol`'s sessions, from its
    /// `[roster.NAME]` section (`NAME` = the protocol's name).
    pub fn placement(&self, protocol: &'static Protocol) -> Result<Placement, RosterProblem> {
        self.rosters
            .get(protocol.name)
            .ok_or_else(|| RosterProblem::NoSection {
                protocol: protocol.name.to_string(),
            })?
            .resolve(protocol, self)
    }
}

/// A roster section as written in the file.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRoster {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    families: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receive_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    nodes: BTreeMap<String, String>,
}

impl FileRoster {
    /// The section of `protocol` as read, or the problem with its peer names.
    pub(crate) fn read(self, protocol: &str) -> Result<RosterConfig, ConfigProblem> {
        let mut nodes = BTreeMap::new();
        for (peer, node) in self.nodes {
            let name = peer.parse().map_err(|()| ConfigProblem::RosterPeer {
                protocol: protocol.to_string(),
                peer: peer.clone(),
            })?;
            nodes.insert(name, NodeId::new(node));
        }
        Ok(RosterConfig {
            families: self.families,
            nodes,
            receive_timeout: self.receive_timeout_ms.map(Duration::from_millis),
        })
    }

    /// The section as it is written.
    pub(crate) fn write(config: &RosterConfig) -> FileRoster {
        FileRoster {
            families: config.families.clone(),
            receive_timeout_ms: config.receive_timeout.map(|d| d.as_millis() as u64),
            nodes: config
                .nodes
                .iter()
                .map(|(peer, node)| (peer.to_string(), node.to_string()))
                .collect(),
        }
    }
}

/// The checks of a section that need no protocol: family sizes, the
/// timeout, and nodes that are neither this node nor one of its peers.
pub(crate) fn check(config: &NodeConfig) -> Result<(), ConfigProblem> {
    for (protocol, roster) in &config.rosters {
        let problem = |what: String| ConfigProblem::Roster {
            protocol: protocol.clone(),
            what,
        };
        if let Some((family, _)) = roster.families.iter().find(|(_, size)| **size == 0) {
            return Err(problem(format!("family {family:?} has no members")));
        }
        if roster.receive_timeout.is_some_and(|d| d.is_zero()) {
            return Err(problem("receive_timeout_ms must be at least 1 ms".into()));
        }
        for (peer, node) in &roster.nodes {
            if *node != config.name && config.peer(node).is_none() {
                return Err(problem(format!(
                    "{peer} runs on node {node}, which is neither this node nor one of its peers"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names_parse_as_the_language_writes_them() {
        let g: PeerName = "Guardian[12]".parse().unwrap();
        assert_eq!((g.role.as_str(), g.member), ("Guardian", Some(12)));
        assert_eq!(g.to_string(), "Guardian[12]");
        let i: PeerName = "Initiator".parse().unwrap();
        assert_eq!((i.role.as_str(), i.member), ("Initiator", None));
        for bad in [
            "",
            "Guardian[]",
            "Guardian[x]",
            "Guardian[1",
            "1st",
            "a-b",
            "G[1][2]",
        ] {
            assert!(bad.parse::<PeerName>().is_err(), "{bad:?}");
        }
    }
}
