//! Who takes part in a session: peers named by role and member index, the
//! family sizes bound at run time, and the node each peer runs on.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::transport::NodeId;

/// A party of a session: a role name plus, for a member of a role family, its
/// 0-based index. `Copy`: generated code and role callbacks pass it by value.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    name: &'static str,
    member: Option<u32>,
    /// The role's index in its protocol when known (a session's peers), else `u16::MAX`.
    role: u16,
}

impl Peer {
    /// The single role `name` (`Initiator`).
    pub const fn role(name: &'static str) -> Self {
        Peer {
            name,
            member: None,
            role: u16::MAX,
        }
    }

    /// Member `index` (0-based) of the family `family` (`Guardian[2]`).
    pub const fn member(family: &'static str, index: u32) -> Self {
        Peer {
            name: family,
            member: Some(index),
            role: u16::MAX,
        }
    }

    /// A peer whose role index in its protocol is known.
    pub(crate) const fn resolved(name: &'static str, member: Option<u32>, role: u16) -> Self {
        Peer { name, member, role }
    }

    /// The role or family name.
    #[inline]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The member index, for a family member.
    #[inline]
    pub fn index(&self) -> Option<u32> {
        self.member
    }

    /// The role's index in its protocol, when this peer came from a session.
    #[inline]
    pub(crate) fn role_hint(&self) -> Option<usize> {
        (self.role != u16::MAX).then_some(usize::from(self.role))
    }
}

impl PartialEq for Peer {
    fn eq(&self, other: &Self) -> bool {
        self.member == other.member && self.name == other.name
    }
}

impl Eq for Peer {}

impl PartialOrd for Peer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Peer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.name, self.member).cmp(&(other.name, other.member))
    }
}

impl Hash for Peer {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.member.hash(state);
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.member {
            Some(index) => write!(f, "{}[{index}]", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// The parties of one run of a protocol: its single roles, the size of each
/// role family, and the node each peer runs on.
///
/// A name is either a single role or a family; declaring it again replaces the
/// earlier declaration. A peer not bound to a node runs on the node named like
/// the peer (`Initiator`, `Guardian[2]`), which is what an in-memory network
/// with one node per peer uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    /// `None` for a single role, `Some(size)` for a family.
    names: BTreeMap<String, Option<u32>>,
    nodes: BTreeMap<(String, Option<u32>), NodeId>,
}

impl Roster {
    /// An empty roster.
    pub fn new() -> Self {
        Roster::default()
    }

    /// Adds the single role `name`.
    pub fn with_role(mut self, name: &str) -> Self {
        self.names.insert(name.to_owned(), None);
        self
    }

    /// Adds the family `name` with `size` members, `name[0]` to `name[size - 1]`.
    pub fn with_family(mut self, name: &str, size: u32) -> Self {
        self.names.insert(name.to_owned(), Some(size));
        self
    }

    /// Runs the single role `name` (member `None`) or member `member` of the
    /// family `name` on `node`.
    pub fn bind(mut self, name: &str, member: Option<u32>, node: NodeId) -> Self {
        self.nodes.insert((name.to_owned(), member), node);
        self
    }

    /// The number of members of family `name`, if it is a family of this roster.
    pub fn family_size(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied().flatten()
    }

    /// Whether `name` is declared, and as a family (`Some(true)`) or a single role.
    pub fn kind(&self, name: &str) -> Option<bool> {
        self.names.get(name).map(Option::is_some)
    }

    /// Whether `peer` is a role of this roster or a member within its family's size.
    pub fn contains(&self, peer: &Peer) -> bool {
        match (self.names.get(peer.name()), peer.index()) {
            (Some(None), None) => true,
            (Some(Some(size)), Some(index)) => index < *size,
            _ => false,
        }
    }

    /// The node that `name` (member `member`) runs on.
    pub fn node_of(&self, name: &str, member: Option<u32>) -> NodeId {
        match self.nodes.get(&(name.to_owned(), member)) {
            Some(node) => node.clone(),
            None => NodeId::new(match member {
                Some(k) => format!("{name}[{k}]"),
                None => name.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_display_as_in_the_language_and_compare_by_name() {
        assert_eq!(Peer::role("Initiator").to_string(), "Initiator");
        assert_eq!(Peer::member("Guardian", 2).to_string(), "Guardian[2]");
        assert_eq!(
            Peer::member("Guardian", 2),
            Peer::resolved("Guardian", Some(2), 1)
        );
        assert_ne!(Peer::member("Guardian", 2), Peer::member("Guardian", 1));
    }

    #[test]
    fn roster_bounds_members_and_binds_nodes() {
        let roster = Roster::new()
            .with_family("Guardian", 3)
            .with_role("Initiator")
            .bind("Guardian", Some(1), NodeId::new("phone"));
        assert_eq!(roster.family_size("Guardian"), Some(3));
        assert_eq!(roster.family_size("Initiator"), None);
        assert_eq!(roster.kind("Guardian"), Some(true));
        assert_eq!(roster.kind("Nobody"), None);
        assert!(roster.contains(&Peer::member("Guardian", 2)));
        assert!(!roster.contains(&Peer::member("Guardian", 3)));
        assert!(!roster.contains(&Peer::role("Guardian")));
        assert!(!roster.contains(&Peer::member("Initiator", 0)));
        assert_eq!(roster.node_of("Guardian", Some(1)), NodeId::new("phone"));
        assert_eq!(
            roster.node_of("Guardian", Some(0)),
            NodeId::new("Guardian[0]")
        );
        assert_eq!(roster.node_of("Initiator", None), NodeId::new("Initiator"));
    }
}
