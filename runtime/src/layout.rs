//! A session's parties in dense order: every peer of the roster gets an index
//! (roles in declaration order, family members in member order), so budgets,
//! inboxes and counters are plain vectors indexed by it.

use crate::protocol::Protocol;
use crate::roster::{Peer, Roster};
use crate::transport::NodeId;
use crate::wire::Addr;

/// One party of a session.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub peer: Peer,
    pub node: NodeId,
    pub addr: Addr,
}

/// The parties of a session, by dense index.
#[derive(Debug)]
pub(crate) struct Layout {
    pub protocol: &'static Protocol,
    pub entries: Vec<Entry>,
    /// Per role: the dense index of its single peer or of member 0.
    offsets: Vec<usize>,
    /// Per role: the family size, `None` for a single role.
    sizes: Vec<Option<u32>>,
}

impl Layout {
    /// Lays out `roster` for `protocol`, or says why it does not fit.
    pub fn new(protocol: &'static Protocol, roster: &Roster) -> Result<Layout, String> {
        let mut entries = Vec::new();
        let mut offsets = Vec::with_capacity(protocol.roles.len());
        let mut sizes = Vec::with_capacity(protocol.roles.len());
        for (r, decl) in protocol.roles.iter().enumerate() {
            let role = u16::try_from(r).map_err(|_| "too many roles".to_string())?;
            offsets.push(entries.len());
            match (decl.family, roster.kind(decl.name)) {
                (false, Some(false)) => {
                    sizes.push(None);
                    entries.push(Entry {
                        peer: Peer::resolved(decl.name, None, role),
                        node: roster.node_of(decl.name, None),
                        addr: Addr { role, member: None },
                    });
                }
                (true, Some(true)) => {
                    let size = roster.family_size(decl.name).unwrap_or(0);
                    sizes.push(Some(size));
                    for k in 0..size {
                        entries.push(Entry {
                            peer: Peer::resolved(decl.name, Some(k), role),
                            node: roster.node_of(decl.name, Some(k)),
                            addr: Addr {
                                role,
                                member: Some(k),
                            },
                        });
                    }
                }
                (false, Some(true)) => {
                    return Err(format!(
                        "`{}` is a single role of {}, the roster makes it a family",
                        decl.name, protocol.name
                    ))
                }
                (true, Some(false)) => {
                    return Err(format!(
                        "`{}` is a family of {}, the roster makes it a single role",
                        decl.name, protocol.name
                    ))
                }
                (_, None) => {
                    return Err(format!(
                        "the roster has no `{}`, a role of {}",
                        decl.name, protocol.name
                    ))
                }
            }
        }
        Ok(Layout {
            protocol,
            entries,
            offsets,
            sizes,
        })
    }

    /// Whether `other` lays out the same protocol with the same parties on the same nodes.
    pub fn same_parties(&self, other: &Layout) -> bool {
        self.protocol.digest == other.protocol.digest
            && self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.peer == b.peer && a.node == b.node)
    }

    /// The number of parties.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The dense index of the peer a frame names.
    #[inline]
    pub fn index(&self, addr: Addr) -> Option<usize> {
        let r = usize::from(addr.role);
        match (self.sizes.get(r)?, addr.member) {
            (None, None) => Some(self.offsets[r]),
            (Some(size), Some(k)) if k < *size => Some(self.offsets[r] + k as usize),
            _ => None,
        }
    }

    /// The dense index of `peer`.
    #[inline]
    pub fn index_of(&self, peer: &Peer) -> Option<usize> {
        let r = match peer
            .role_hint()
            .and_then(|r| Some((r, self.protocol.roles.get(r)?)))
        {
            // A peer this session handed out carries the table's own name.
            Some((r, decl)) if std::ptr::eq(decl.name, peer.name()) || decl.name == peer.name() => {
                r
            }
            _ => self.protocol.role_index(peer.name())?,
        };
        let role = u16::try_from(r).ok()?;
        self.index(Addr {
            role,
            member: peer.index(),
        })
    }

    /// The single peer of role `r`.
    #[inline]
    pub fn single(&self, r: usize) -> Option<usize> {
        matches!(self.sizes.get(r), Some(None)).then(|| self.offsets[r])
    }

    /// The dense indices of members `start..end` of family `r`.
    pub fn members(&self, r: usize, start: u32, end: u32) -> Option<std::ops::Range<usize>> {
        let size = (*self.sizes.get(r)?)?;
        (start <= end && end <= size)
            .then(|| self.offsets[r] + start as usize..self.offsets[r] + end as usize)
    }

    /// The size of family `r`.
    pub fn family_size(&self, r: usize) -> Option<u32> {
        *self.sizes.get(r)?
    }
}
