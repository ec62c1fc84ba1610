//! Recovery protocols (`protocols/recovery/`).

pub mod guardian_ceremony;
pub mod guardian_membership;
pub mod guardian_setup;
pub mod recovery_protocol;

pub use recovery_protocol::{
    GuardianApproval, GuardianApprovalRequest, RecoveryOutcome, RecoveryRequest,
    RecoveryShareBundle,
};
