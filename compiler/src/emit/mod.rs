//! Emitters: turn checked protocols and their projections into artifacts.
//! Emitters never re-parse; they read the model and the local types.

pub mod diagram;
pub mod rust;
pub mod sequence;
mod sequence_dot;
