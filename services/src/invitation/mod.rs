//! Invitation protocols (`protocols/invitation/`).

pub mod guardian_invitation;
pub mod invitation_exchange;

pub use invitation_exchange::{ContactDescriptor, InvitationOffer, InvitationResponse};
