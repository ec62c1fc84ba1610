//! Consensus protocols (`protocols/consensus/`).

pub mod aura_consensus;

pub use aura_consensus::{
    ConsensusResultMsg, ExecuteMsg, NonceCommitMsg, SignRequestMsg, SignShareMsg,
};
