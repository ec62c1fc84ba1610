//! What `choreoc build` resolves at compile time and the runtime only reads:
//! a protocol's roles, labels, capabilities, journal facts and the guard of
//! every send, as static tables of small integers.

use std::fmt;

use crate::guard::leakage::ObserverClass;

/// A protocol as generated code describes it: names, digest and the tables
/// its sends refer to by index.
#[derive(Debug)]
pub struct Protocol {
    /// The protocol's name (`GuardianCeremony`).
    pub name: &'static str,
    /// A digest of the protocol's global type: sessions of two different
    /// builds of a changed protocol never exchange a frame.
    pub digest: Digest,
    /// Roles in declaration order; a role's index is its position here.
    pub roles: &'static [RoleDecl],
    /// Message labels (plus `Continue`/`Done` for decided loops); a label id
    /// is its position here.
    pub labels: &'static [&'static str],
    /// Capabilities the sends require; a guard names them by position.
    pub capabilities: &'static [&'static str],
    /// Journal facts the sends record; a guard names one by position.
    pub facts: &'static [&'static str],
    /// The guard of every send the protocol makes; generated code names a
    /// send's guard by its position here.
    pub guards: &'static [SendGuard],
}

/// One role of a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleDecl {
    /// The role's name (for a family, the family's name).
    pub name: &'static str,
    /// Whether it is a family of members (`Guardian[*]`).
    pub family: bool,
}

/// A 16-byte digest of a protocol's global type.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 16]);

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The guard chain of one send, resolved at compile time: what it requires
/// and what it records, as numbers and indices into its [`Protocol`]'s tables.
///
/// The chain runs `CapGuard` (capabilities), `FlowGuard` (flow budget per
/// receiver), `LeakageGuard` (the send's leak against its budget), then the
/// `JournalCoupler` (fact, journal shipment) and the audit log; every check
/// happens before any effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendGuard {
    /// The label id the send carries.
    pub label: u16,
    /// Capabilities the sender must hold, as indices into `Protocol::capabilities`.
    pub capabilities: &'static [u16],
    /// Charged against the sender's flow budget for the receiver, per receiver.
    pub flow_cost: u64,
    /// The fact recorded per receiver, as an index into `Protocol::facts`.
    pub journal_fact: Option<u16>,
    /// Whether the frame ships the sender's journal facts the receiver has not seen.
    pub journal_merge: bool,
    /// The audit log entry written per receiver.
    pub audit_log: Option<&'static str>,
    /// Units leaked per observer class, indexed by [`ObserverClass::index`].
    pub leak: [u64; 3],
    /// Items of the `leak` annotation that name no observer class.
    pub leak_labels: &'static [&'static str],
    /// What the send may leak per class; `None` for no limit.
    pub leakage_budget: Option<[u64; 3]>,
}

impl SendGuard {
    /// A send of `label` with no requirements and no effects (the control
    /// messages `Continue`/`Done` of decided loops).
    pub const fn plain(label: u16) -> SendGuard {
        SendGuard {
            label,
            capabilities: &[],
            flow_cost: 0,
            journal_fact: None,
            journal_merge: false,
            audit_log: None,
            leak: [0; 3],
            leak_labels: &[],
            leakage_budget: None,
        }
    }

    /// Whether the send leaks anything.
    #[inline]
    pub fn leaks(&self) -> bool {
        self.leak != [0; 3] || !self.leak_labels.is_empty()
    }

    /// Units leaked to `class`.
    pub fn leak_to(&self, class: ObserverClass) -> u64 {
        self.leak[class.index()]
    }
}

impl Protocol {
    /// The index of the role called `name`.
    #[inline]
    pub fn role_index(&self, name: &str) -> Option<usize> {
        // Generated code passes the table's own strings: compare addresses first.
        self.roles
            .iter()
            .position(|r| std::ptr::eq(r.name, name))
            .or_else(|| self.roles.iter().position(|r| r.name == name))
    }

    /// The name of label `id` (`?` for an id outside the table).
    #[inline]
    pub fn label(&self, id: u16) -> &'static str {
        self.labels.get(usize::from(id)).copied().unwrap_or("?")
    }

    /// The id of the label called `name`.
    pub fn label_id(&self, name: &str) -> Option<u16> {
        let i = self.labels.iter().position(|l| *l == name)?;
        u16::try_from(i).ok()
    }
}
