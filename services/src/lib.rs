//! Services that wire every protocol of `protocols/` into the runtime.
//!
//! One module per protocol, laid out like `protocols/<category>/<file>.choreo`
//! (`recovery::guardian_ceremony` for `protocols/recovery/guardian_ceremony.choreo`).
//! Each module
//!
//! - defines the domain payload types the protocol names (`CeremonyProposal`,
//!   ...) and binds them to the generated crate through its `Types` trait;
//! - holds each role's state (parameters, keys, a policy), records what a
//!   session decided and learned as facts of its node's journal
//!   ([`journal::FactLog`]), and implements the role's generated trait (async, with
//!   [`ServiceError`] as its `Error`), taking every payload and decision from
//!   that state, as the seed's Decision Sourcing table says;
//! - exposes one `run_<role>` function per role: the runtime entry point. It
//!   takes the role's [`Session`] (joined on a
//!   [`Node`](choreo_runtime::Node) before any party sends) and its state,
//!   runs the role through the generated crate's `execute_as`, and returns
//!   the role's domain outcome or a [`ServiceError`]. A family member finds
//!   its own index in `session.me()`.
//!
//! # Failures
//!
//! No value sent on the wire stands for a failure. A decision the protocol
//! makes (accept or reject, commit or abort, compatible or incompatible, sign
//! or decline) is a branch of the protocol, and its outcome is a domain
//! value. Anything else that stops a role (a message that does not check
//! out, a policy that does not allow the next step, a state that cannot run
//! the session) makes that role's code return an error: the runtime then
//! cancels the session, the role's `run_*` returns
//! [`ServiceError::Refused`] (or [`ServiceError::Invalid`] for a state
//! refused before anything was sent), and every other peer's `run_*` returns
//! [`ServiceError::Cancelled`] naming that role and its reason, at once.
//! Services that keep a record of failures journal the reason on every side.
//!
//! ```no_run
//! use choreo_runtime::{MemoryNetwork, Peer, RoleContext, Roster};
//! use choreo_services::amp::{run_receiver, run_sender, ReceiverState, SenderState};
//!
//! # async fn window(mut tx: SenderState, mut rx: ReceiverState) -> Result<(), Box<dyn std::error::Error>> {
//! let net = MemoryNetwork::new();
//! let (alice, bob) = (net.node("Sender")?, net.node("Receiver")?);
//! let roster = Roster::new().with_role("Sender").with_role("Receiver");
//! let protocol = &choreo_amp_transport::PROTOCOL;
//! let id = alice.new_session_id();
//! let mut can_send = RoleContext::new().with_capabilities(["amp:channel", "amp:send"]);
//! let mut nothing = RoleContext::new();
//! // Both parties join the session before either runs.
//! let a = alice.session(protocol, id, &roster, Peer::role("Sender"), &mut can_send)?;
//! let b = bob.session(protocol, id, &roster, Peer::role("Receiver"), &mut nothing)?;
//! let (sent, received) = tokio::join!(run_sender(a, &mut tx), run_receiver(b, &mut rx));
//! println!("delivered {} of the window", sent?.delivered);
//! received?;
//! # Ok(())
//! # }
//! ```
//!
//! Where a protocol names its payloads under another path
//! (`crate::sessions::SessionRequest`, `crate::amp::AmpEnvelope`,
//! `crate::consensus::ExecuteMsg`), that path is re-exported here, so every
//! type a `.choreo` file names exists under that name (`tests/payload_paths.rs`).
//!
//! | protocol | module | roles (`run_*`) |
//! |---|---|---|
//! | AuraConsensus | [`consensus::aura_consensus`] | coordinator, witness |
//! | AmpTransport | [`transport::amp_transport`] | sender, receiver |
//! | RendezvousExchange | [`rendezvous::rendezvous_exchange`] | initiator, responder |
//! | RelayedRendezvous | [`rendezvous::relayed_rendezvous`] | initiator, relay, responder |
//! | GuardianAuthRelational | [`authentication::guardian_auth_relational`] | account, guardian |
//! | DkdChoreography | [`authentication::dkd`] | initiator, participant |
//! | RecoveryProtocol | [`recovery::recovery_protocol`] | requester, coordinator, guardian |
//! | GuardianMembershipChange | [`recovery::guardian_membership`] | account, guardian, candidate |
//! | GuardianCeremony | [`recovery::guardian_ceremony`] | initiator, guardian |
//! | GuardianSetup | [`recovery::guardian_setup`] | account, guardian |
//! | InvitationExchange | [`invitation::invitation_exchange`] | sender, receiver |
//! | GuardianInvitation | [`invitation::guardian_invitation`] | inviter, invitee, guardian |
//! | EpochRotationProtocol | [`sync::epochs`] | coordinator, participant |
//! | SessionCoordinationChoreography | [`demo::coordination`] | coordinator, participant |
//!
//! Cryptography is real and comes from well-kept crates, through the thin
//! wrappers of [`crypto`]: BLAKE3, Ed25519, X25519, ChaCha20-Poly1305 and
//! FROST (threshold keys, verifiable secret sharing, threshold signatures).
//! Each protocol module says, in its docs, who learns what. A value a peer
//! sent that fails a check is refused with [`ServiceError::Unverified`]
//! (naming the [`error::Check`]), which cancels the session.
//!
//! Services record their domain facts in their node's fact journal through
//! [`journal::FactLog`] (kinds `<Protocol>::<Variant>`); [`journal::facts`]
//! reads them back typed.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod authentication;
pub mod consensus;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod invitation;
pub mod journal;
pub mod process;
pub mod recovery;
pub mod rendezvous;
pub mod sync;
pub mod transport;

pub use error::ServiceError;

pub use authentication::{dkd, guardian_auth_relational};
pub use demo::coordination as sessions;
pub use invitation::guardian_invitation;
pub use recovery::{guardian_ceremony, guardian_membership, guardian_setup};
pub use sync::epochs;
pub use transport::amp_transport as amp;

use choreo_runtime::{Peer, Session, Transport};

/// The member index of the family member `peer`, as a protocol field.
pub(crate) fn index_of(peer: Peer) -> Result<u16, ServiceError> {
    peer.index()
        .and_then(|i| u16::try_from(i).ok())
        .ok_or_else(|| ServiceError::Invalid(format!("{peer} is not a family member")))
}

/// The member index `session` runs as, or an error naming `family`.
pub(crate) fn own_index<T: Transport>(
    session: &Session<'_, T>,
    family: &str,
) -> Result<u16, ServiceError> {
    let me = session.me();
    match me.index().map(u16::try_from) {
        Some(Ok(index)) if me.name() == family => Ok(index),
        _ => Err(ServiceError::Invalid(format!(
            "{me} does not run as a member of `{family}`"
        ))),
    }
}

/// The size of the family that is role `role` of the session's protocol, as a
/// protocol field.
pub(crate) fn family_size<T: Transport>(
    session: &Session<'_, T>,
    role: u16,
) -> Result<u16, ServiceError> {
    let size = session.members(role)?.count();
    u16::try_from(size).map_err(|_| ServiceError::Invalid(format!("a family of {size} members")))
}

/// Ends `session` before its role ran, telling every peer why, and returns `err`.
pub(crate) fn reject<T: Transport>(mut session: Session<'_, T>, err: ServiceError) -> ServiceError {
    session.cancel(&err.to_string());
    err
}
