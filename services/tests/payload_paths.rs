//! Every payload type a protocol names (`crate::sessions::SessionRequest` in
//! `protocols/demo/coordination.choreo`) exists under that path in this crate:
//! the list below compiles only if each path resolves, and the test checks
//! that the list is exactly the set of paths the protocols name.

use std::collections::BTreeSet;

/// Lists `module::Type` paths, each checked to name a type of this crate.
macro_rules! paths {
    ($($module:ident :: $ty:ident,)*) => {
        /// The paths, as the protocols write them (`crate::module::Type`).
        const PATHS: &[&str] = &[$(concat!("crate::", stringify!($module), "::", stringify!($ty)),)*];

        /// Compiles only if every path names a type.
        #[allow(dead_code)]
        fn resolves() {
            $(let _: Option<choreo_services::$module::$ty> = None;)*
        }
    };
}

paths! {
    amp::AmpEnvelope,
    amp::ChannelAccept,
    amp::ChannelClose,
    amp::ChannelOpen,
    consensus::ConsensusResultMsg,
    consensus::ExecuteMsg,
    consensus::NonceCommitMsg,
    consensus::SignRequestMsg,
    consensus::SignShareMsg,
    dkd::CommitmentSet,
    dkd::DerivationRequest,
    dkd::DerivationShare,
    dkd::DerivedPublicKey,
    epochs::EpochRotationProposal,
    epochs::JournalCheckpoint,
    epochs::JournalDelta,
    guardian_auth_relational::GuardianAttestation,
    guardian_auth_relational::RelationalAuthRequest,
    guardian_auth_relational::RelationalProof,
    guardian_auth_relational::SessionReceipt,
    guardian_ceremony::CeremonyAbort,
    guardian_ceremony::CeremonyCommit,
    guardian_ceremony::CeremonyProposal,
    guardian_ceremony::CeremonyResponse,
    guardian_ceremony::EncryptedKeyShare,
    guardian_invitation::GuardianBindingSignature,
    guardian_invitation::GuardianInvite,
    guardian_invitation::GuardianInviteResponse,
    guardian_invitation::GuardianJoinNotice,
    guardian_invitation::GuardianRelationship,
    guardian_membership::CandidateConfirmation,
    guardian_membership::MembershipChangeProposal,
    guardian_membership::MembershipNotice,
    guardian_membership::MembershipVote,
    guardian_membership::ReshareCommitment,
    guardian_setup::EncryptedKeyShare,
    guardian_setup::GuardianPublicKey,
    guardian_setup::GuardianRoster,
    guardian_setup::SetupInvitation,
    invitation::ContactDescriptor,
    invitation::InvitationOffer,
    invitation::InvitationResponse,
    recovery::GuardianApproval,
    recovery::GuardianApprovalRequest,
    recovery::RecoveryOutcome,
    recovery::RecoveryRequest,
    recovery::RecoveryShareBundle,
    rendezvous::NegotiatedVersion,
    rendezvous::NoiseHandshake,
    rendezvous::RelayEnvelope,
    rendezvous::RelayRequest,
    rendezvous::SealedHandshake,
    rendezvous::TransportDescriptor,
    sessions::SessionHandle,
    sessions::SessionRequest,
    sessions::SessionResponse,
}

/// The `crate::...` paths named in the protocols' `.choreo` files.
fn named_by_protocols() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    let mut named = BTreeSet::new();
    for category in std::fs::read_dir(&root).expect("protocols/") {
        let category = category.expect("entry").path();
        if !category.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&category).expect("category") {
            let text = std::fs::read_to_string(file.expect("entry").path()).expect("readable");
            for (at, _) in text.match_indices("crate::") {
                let path = text[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                named.insert(path);
            }
        }
    }
    named
}

#[test]
fn every_payload_path_of_the_protocols_resolves_here() {
    let listed: BTreeSet<String> = PATHS.iter().map(|p| p.to_string()).collect();
    assert_eq!(listed, named_by_protocols());
}
