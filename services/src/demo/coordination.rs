//! SessionCoordinationChoreography: set up a session among invited agents.
//!
//! Implements the seed entry **SessionCoordinationChoreography**
//! (CHOREO-AGENT-001, owner `aura-agent`, seed entry point
//! `handlers/sessions/coordination.rs`). Decision sourcing as the seed says:
//! request, invitation and responses come from the session manager's state;
//! each participant accepts or rejects from its policy (the purposes it takes
//! part in, how many sessions it may hold, the request's expiry); the
//! Coordinator reports success iff enough participants accepted, by its
//! validation policy.

use choreo_runtime::{Adapter, ChoreographicEffects, Peer};
use choreo_session_coordination_choreography::choice::{AcceptOrReject, FailureOrSuccess};
use choreo_session_coordination_choreography::msg;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::journal::Journal;
use crate::{index_of, own_index, ServiceError};

/// A session identifier.
pub type SessionId = [u8; 16];

/// The invitation into a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    /// The session.
    pub session_id: SessionId,
    /// What the session is for (`"sync"`, `"call"`).
    pub purpose: String,
    /// Participants needed for the session to be established.
    pub min_participants: u16,
    /// Time after which the invitation is void.
    pub expires_at: u64,
}

/// A participant's acceptance, with the device key it joins with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The session accepted.
    pub session_id: SessionId,
    /// The key of the accepting device.
    pub device_key: Digest,
}

/// The established session, as every participant holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHandle {
    /// The session.
    pub session_id: SessionId,
    /// What it is for.
    pub purpose: String,
    /// Member indices of the participants in it.
    pub members: Vec<u16>,
    /// Digest binding the members' device keys to the session.
    pub roster_digest: Digest,
    /// When it was established.
    pub established_at: u64,
}

/// Binds the protocol's payload types to this module's.
pub struct SessionTypes;

impl choreo_session_coordination_choreography::Types for SessionTypes {
    type SessionRequest = SessionRequest;
    type SessionResponse = SessionResponse;
    type SessionHandle = SessionHandle;
}

/// A fact of session coordination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionFact {
    /// The Coordinator invited participants.
    Invited(SessionId),
    /// A participant accepted (recorded by both sides).
    Accepted(SessionId, u16),
    /// A participant rejected, with its reason (recorded by both sides).
    Rejected(SessionId, u16, String),
    /// The session was established with these members.
    Established(SessionId, Vec<u16>),
    /// The session was aborted, with the reason.
    Aborted(SessionId, String),
}

/// How the Coordinator validates the answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorPolicy {
    /// Acceptances needed for success.
    pub min_participants: u16,
    /// How long an invitation stays valid.
    pub invitation_ttl: u64,
}

/// The Coordinator's session-manager state.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    /// This agent's identity; session ids derive from it.
    pub agent_id: Digest,
    /// Validation policy.
    pub policy: CoordinatorPolicy,
    /// The current time.
    pub now: u64,
    /// Sessions created so far (the next id's sequence number).
    pub created: u64,
    /// Established sessions.
    pub sessions: Vec<SessionHandle>,
    /// Facts of every session.
    pub journal: Journal<SessionFact>,
}

/// How a session set-up ended for the Coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordinatorOutcome {
    /// Established; every participant was told.
    Established(SessionHandle),
    /// Not enough participants accepted.
    Failed {
        /// Why, as sent to the participants.
        reason: String,
    },
}

/// One set-up as the Coordinator plays it.
struct CoordinatorSession<'s> {
    state: &'s mut CoordinatorState,
    request: SessionRequest,
    accepted: Vec<(u16, Digest)>,
    handle: Option<SessionHandle>,
    failure: Option<String>,
}

impl choreo_session_coordination_choreography::Coordinator<SessionTypes>
    for CoordinatorSession<'_>
{
    fn session_invite(&mut self, _to: &Peer) -> SessionRequest {
        self.request.clone()
    }

    fn on_session_accept(&mut self, from: &Peer, msg: SessionResponse) {
        let (id, member) = (self.request.session_id, index_of(from));
        if msg.session_id == id {
            self.accepted.push((member, msg.device_key));
            self.state.journal.record(SessionFact::Accepted(id, member));
        } else {
            let why = "accepted another session".to_string();
            self.state
                .journal
                .record(SessionFact::Rejected(id, member, why));
        }
    }

    fn on_session_reject(&mut self, from: &Peer, msg: msg::SessionReject) {
        let fact = SessionFact::Rejected(self.request.session_id, index_of(from), msg.reason);
        self.state.journal.record(fact);
    }

    fn choose_failure_or_success(&mut self) -> FailureOrSuccess {
        let needed = self.state.policy.min_participants;
        if self.accepted.len() < usize::from(needed.max(1)) {
            self.failure = Some(format!("{} accepted, {needed} needed", self.accepted.len()));
            return FailureOrSuccess::Failure;
        }
        self.accepted.sort();
        let keys: Vec<&[u8]> = self.accepted.iter().map(|(_, k)| k.as_slice()).collect();
        self.handle = Some(SessionHandle {
            session_id: self.request.session_id,
            purpose: self.request.purpose.clone(),
            members: self.accepted.iter().map(|(m, _)| *m).collect(),
            roster_digest: crypto::digest("sessions/roster", &keys),
            established_at: self.state.now,
        });
        FailureOrSuccess::Success
    }

    fn session_aborted(&mut self, _to: &Peer) -> msg::SessionAborted {
        msg::SessionAborted {
            reason: self.failure.clone().unwrap_or_default(),
        }
    }

    fn session_established(&mut self, _to: &Peer) -> SessionHandle {
        self.handle.clone().unwrap_or_else(|| SessionHandle {
            session_id: self.request.session_id,
            purpose: self.request.purpose.clone(),
            members: Vec::new(),
            roster_digest: [0; 32],
            established_at: self.state.now,
        })
    }

    fn on_outcome_ack(&mut self, _from: &Peer, _msg: msg::OutcomeAck) {}
}

/// Runs the Coordinator: invites every participant into a session for
/// `purpose`, then establishes it iff at least `policy.min_participants` accepted.
pub async fn run_coordinator<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut CoordinatorState,
    purpose: &str,
) -> Result<CoordinatorOutcome, ServiceError> {
    let seq = state.created.to_le_bytes();
    let id = crypto::digest("sessions/id", &[&state.agent_id, &seq]);
    let mut session_id = [0u8; 16];
    session_id.copy_from_slice(&id[..16]);
    state.created += 1;
    let request = SessionRequest {
        session_id,
        purpose: purpose.to_owned(),
        min_participants: state.policy.min_participants,
        expires_at: state.now + state.policy.invitation_ttl,
    };
    state.journal.record(SessionFact::Invited(session_id));
    let mut session = CoordinatorSession {
        state,
        request,
        accepted: Vec::new(),
        handle: None,
        failure: None,
    };
    choreo_session_coordination_choreography::execute_as::<SessionTypes, _>(
        choreo_session_coordination_choreography::As::Coordinator(&mut session),
        adapter,
        &choreo_session_coordination_choreography::Params::default(),
    )
    .await?;
    let CoordinatorSession {
        state,
        handle,
        failure,
        ..
    } = session;
    Ok(match handle {
        Some(handle) => {
            let fact = SessionFact::Established(session_id, handle.members.clone());
            state.journal.record(fact);
            state.sessions.push(handle.clone());
            CoordinatorOutcome::Established(handle)
        }
        None => {
            let reason = failure.unwrap_or_default();
            state
                .journal
                .record(SessionFact::Aborted(session_id, reason.clone()));
            CoordinatorOutcome::Failed { reason }
        }
    })
}

/// Which sessions a participant joins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantPolicy {
    /// Purposes it takes part in.
    pub purposes: Vec<String>,
    /// Sessions it may hold at once.
    pub max_sessions: usize,
}

/// A participant's session-manager state.
#[derive(Clone, Debug)]
pub struct ParticipantState {
    /// The key this device joins sessions with.
    pub device_key: Digest,
    /// Its policy.
    pub policy: ParticipantPolicy,
    /// The current time.
    pub now: u64,
    /// Sessions it is a member of.
    pub sessions: Vec<SessionHandle>,
    /// Facts of every invitation.
    pub journal: Journal<SessionFact>,
}

/// How a session set-up ended for a participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParticipantOutcome {
    /// It accepted and the session was established with it.
    Joined(SessionHandle),
    /// It rejected the invitation (the session may still have been established).
    Declined {
        /// Its reason.
        reason: String,
    },
    /// It accepted but the Coordinator aborted.
    Aborted {
        /// The Coordinator's reason.
        reason: String,
    },
}

/// One set-up as a participant plays it.
struct ParticipantSession<'s> {
    state: &'s mut ParticipantState,
    me: u16,
    request: Option<SessionRequest>,
    rejection: Option<String>,
    outcome: Option<ParticipantOutcome>,
}

impl ParticipantSession<'_> {
    /// Why the policy rejects the request, if it does.
    fn objection(&self) -> Option<String> {
        let Some(request) = &self.request else {
            return Some("no invitation".into());
        };
        let policy = &self.state.policy;
        if !policy.purposes.contains(&request.purpose) {
            Some(format!(
                "does not take part in `{}` sessions",
                request.purpose
            ))
        } else if self.state.sessions.len() >= policy.max_sessions {
            Some(format!(
                "already holds {} sessions",
                self.state.sessions.len()
            ))
        } else if self.state.now > request.expires_at {
            Some("the invitation has expired".into())
        } else {
            None
        }
    }

    fn session_id(&self) -> SessionId {
        self.request
            .as_ref()
            .map(|r| r.session_id)
            .unwrap_or_default()
    }
}

impl choreo_session_coordination_choreography::Participants<SessionTypes>
    for ParticipantSession<'_>
{
    fn on_session_invite(&mut self, _from: &Peer, msg: SessionRequest) {
        self.request = Some(msg);
    }

    fn choose_accept_or_reject(&mut self) -> AcceptOrReject {
        let id = self.session_id();
        self.rejection = self.objection();
        match &self.rejection {
            None => {
                self.state
                    .journal
                    .record(SessionFact::Accepted(id, self.me));
                AcceptOrReject::Accept
            }
            Some(why) => {
                let fact = SessionFact::Rejected(id, self.me, why.clone());
                self.state.journal.record(fact);
                AcceptOrReject::Reject
            }
        }
    }

    fn session_accept(&mut self, _to: &Peer) -> SessionResponse {
        SessionResponse {
            session_id: self.session_id(),
            device_key: self.state.device_key,
        }
    }

    fn session_reject(&mut self, _to: &Peer) -> msg::SessionReject {
        msg::SessionReject {
            reason: self.rejection.clone().unwrap_or_default(),
        }
    }

    fn on_session_aborted(&mut self, _from: &Peer, msg: msg::SessionAborted) {
        let fact = SessionFact::Aborted(self.session_id(), msg.reason.clone());
        self.state.journal.record(fact);
        if self.rejection.is_none() {
            self.outcome = Some(ParticipantOutcome::Aborted { reason: msg.reason });
        }
    }

    fn on_session_established(&mut self, _from: &Peer, msg: SessionHandle) {
        let fact = SessionFact::Established(msg.session_id, msg.members.clone());
        self.state.journal.record(fact);
        let mine = msg.session_id == self.session_id() && msg.members.contains(&self.me);
        if self.rejection.is_none() && mine {
            self.state.sessions.push(msg.clone());
            self.outcome = Some(ParticipantOutcome::Joined(msg));
        }
    }

    fn outcome_ack(&mut self, _to: &Peer) -> msg::OutcomeAck {
        msg::OutcomeAck {
            session_id: self.session_id(),
        }
    }
}

/// Runs a participant: accepts or rejects the invitation from its policy,
/// then learns whether the session was established.
pub async fn run_participant<E: ChoreographicEffects>(
    adapter: &mut Adapter<E>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    let me = own_index(adapter, "Participants")?;
    let mut session = ParticipantSession {
        state,
        me,
        request: None,
        rejection: None,
        outcome: None,
    };
    choreo_session_coordination_choreography::execute_as::<SessionTypes, _>(
        choreo_session_coordination_choreography::As::Participants(&mut session),
        adapter,
        &choreo_session_coordination_choreography::Params::default(),
    )
    .await?;
    match (session.rejection, session.outcome) {
        (Some(reason), _) => Ok(ParticipantOutcome::Declined { reason }),
        (None, Some(outcome)) => Ok(outcome),
        (None, None) => Err(ServiceError::Invalid(
            "accepted, but the established session does not list this participant".into(),
        )),
    }
}
