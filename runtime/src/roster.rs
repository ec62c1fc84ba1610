//! Who takes part in a session: peers named by role and member index, and the
//! family sizes bound at run time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A party of a session: a role name plus, for a member of a role family, its 0-based index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Peer {
    role: Arc<str>,
    member: Option<u32>,
}

impl Peer {
    /// The single role `name` (`Initiator`).
    pub fn role(name: impl Into<Arc<str>>) -> Self {
        Peer {
            role: name.into(),
            member: None,
        }
    }

    /// Member `index` (0-based) of the family `family` (`Guardian[2]`).
    pub fn member(family: impl Into<Arc<str>>, index: u32) -> Self {
        Peer {
            role: family.into(),
            member: Some(index),
        }
    }

    /// The role or family name.
    pub fn name(&self) -> &str {
        &self.role
    }

    /// The member index, for a family member.
    pub fn index(&self) -> Option<u32> {
        self.member
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.member {
            Some(index) => write!(f, "{}[{index}]", self.role),
            None => f.write_str(&self.role),
        }
    }
}

/// The parties of one run of a protocol: its single roles and the size of each
/// role family, bound by the caller at run time.
///
/// A name is either a single role or a family; declaring it again replaces the
/// earlier declaration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    /// `None` for a single role, `Some(size)` for a family.
    names: BTreeMap<Arc<str>, Option<u32>>,
}

impl Roster {
    /// An empty roster.
    pub fn new() -> Self {
        Roster::default()
    }

    /// Adds the single role `name`.
    pub fn with_role(mut self, name: impl Into<Arc<str>>) -> Self {
        self.names.insert(name.into(), None);
        self
    }

    /// Adds the family `name` with `size` members, `name[0]` to `name[size - 1]`.
    pub fn with_family(mut self, name: impl Into<Arc<str>>, size: u32) -> Self {
        self.names.insert(name.into(), Some(size));
        self
    }

    /// The number of members of family `name`, if it is a family of this roster.
    pub fn family_size(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied().flatten()
    }

    /// The members of family `name` in member order, if it is a family of this roster.
    pub fn members(&self, name: &str) -> Option<Vec<Peer>> {
        let (key, size) = self.names.get_key_value(name)?;
        let size = (*size)?;
        Some((0..size).map(|i| Peer::member(key.clone(), i)).collect())
    }

    /// Whether `peer` is a role of this roster or a member within its family's size.
    pub fn contains(&self, peer: &Peer) -> bool {
        match (self.names.get(peer.name()), peer.index()) {
            (Some(None), None) => true,
            (Some(Some(size)), Some(index)) => index < *size,
            _ => false,
        }
    }

    /// Every peer of the roster, sorted by name and then member index.
    pub fn peers(&self) -> Vec<Peer> {
        let mut peers = Vec::new();
        for (name, size) in &self.names {
            match size {
                None => peers.push(Peer::role(name.clone())),
                Some(size) => peers.extend((0..*size).map(|i| Peer::member(name.clone(), i))),
            }
        }
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_display_as_in_the_language() {
        assert_eq!(Peer::role("Initiator").to_string(), "Initiator");
        assert_eq!(Peer::member("Guardian", 2).to_string(), "Guardian[2]");
    }

    #[test]
    fn roster_enumerates_members_in_order_and_bounds_them() {
        let roster = Roster::new()
            .with_family("Guardian", 3)
            .with_role("Initiator");
        assert_eq!(roster.family_size("Guardian"), Some(3));
        assert_eq!(roster.family_size("Initiator"), None);
        assert_eq!(
            roster.members("Guardian"),
            Some((0..3).map(|i| Peer::member("Guardian", i)).collect())
        );
        assert_eq!(roster.members("Initiator"), None);
        assert!(roster.contains(&Peer::member("Guardian", 2)));
        assert!(!roster.contains(&Peer::member("Guardian", 3)));
        assert!(!roster.contains(&Peer::role("Guardian")));
        assert!(!roster.contains(&Peer::member("Initiator", 0)));
        assert!(!roster.contains(&Peer::role("Nobody")));
        let names: Vec<String> = roster.peers().iter().map(Peer::to_string).collect();
        assert_eq!(
            names,
            ["Guardian[0]", "Guardian[1]", "Guardian[2]", "Initiator"]
        );
    }
}
