//! SessionCoordinationChoreography: set up a session among invited agents.
//!
//! Implements the seed entry **SessionCoordinationChoreography**
//! (CHOREO-AGENT-001, owner `aura-agent`, seed entry point
//! `handlers/sessions/coordination.rs`). Decision sourcing as the seed says:
//! request, invitation and responses come from the session manager's state;
//! each participant accepts or rejects from its policy (the purposes it takes
//! part in, how many sessions it may hold, the request's expiry); the
//! Coordinator reports success iff enough participants accepted, by its
//! validation policy. Both decisions are branches of the protocol; an answer
//! or outcome for another session is refused, which cancels the set-up.
//!
//! # Who learns what
//!
//! - Requests, answers and the session handle are public to the
//!   participants (`leak = "Neighbor"`); ids are BLAKE3 digests. Nothing
//!   secret travels.

use choreo_runtime::{Peer, Session, Transport};
use choreo_session_coordination_choreography::choice::{AcceptOrReject, FailureOrSuccess};
use choreo_session_coordination_choreography::{msg, Role};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest};
use crate::stand_in::Journal;
use crate::{family_size, index_of, own_index, reject, ServiceError};

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
}

impl CoordinatorSession<'_> {
    /// Why the session fails: fewer acceptances than the policy needs.
    fn shortfall(&self) -> Option<String> {
        let needed = self.state.policy.min_participants;
        (self.accepted.len() < usize::from(needed.max(1)))
            .then(|| format!("{} accepted, {needed} needed", self.accepted.len()))
    }

    /// The session established with the participants that accepted.
    fn handle(&self) -> SessionHandle {
        let mut accepted = self.accepted.clone();
        accepted.sort();
        let keys: Vec<&[u8]> = accepted.iter().map(|(_, k)| k.as_slice()).collect();
        SessionHandle {
            session_id: self.request.session_id,
            purpose: self.request.purpose.clone(),
            members: accepted.iter().map(|(m, _)| *m).collect(),
            roster_digest: crypto::digest("sessions/roster", &keys),
            established_at: self.state.now,
        }
    }

    fn ours(&self, from: Peer, session_id: &SessionId) -> Result<(), ServiceError> {
        if *session_id == self.request.session_id {
            Ok(())
        } else {
            Err(ServiceError::Refused(format!(
                "{from} answered another session"
            )))
        }
    }
}

impl choreo_session_coordination_choreography::Coordinator for CoordinatorSession<'_> {
    type Types = SessionTypes;
    type Error = ServiceError;

    async fn session_invite(&mut self, _to: Peer) -> Result<SessionRequest, ServiceError> {
        Ok(self.request.clone())
    }

    async fn on_session_accept(
        &mut self,
        from: Peer,
        msg: SessionResponse,
    ) -> Result<(), ServiceError> {
        self.ours(from, &msg.session_id)?;
        let (id, member) = (self.request.session_id, index_of(from)?);
        self.accepted.push((member, msg.device_key));
        self.state.journal.record(SessionFact::Accepted(id, member));
        Ok(())
    }

    async fn on_session_reject(
        &mut self,
        from: Peer,
        msg: msg::SessionReject,
    ) -> Result<(), ServiceError> {
        let fact = SessionFact::Rejected(self.request.session_id, index_of(from)?, msg.reason);
        self.state.journal.record(fact);
        Ok(())
    }

    async fn choose_failure_or_success(&mut self) -> Result<FailureOrSuccess, ServiceError> {
        Ok(match self.shortfall() {
            Some(_) => FailureOrSuccess::Failure,
            None => FailureOrSuccess::Success,
        })
    }

    async fn session_aborted(&mut self, _to: Peer) -> Result<msg::SessionAborted, ServiceError> {
        let reason = self.shortfall().ok_or_else(|| {
            ServiceError::Invalid("asked to abort a session with enough participants".into())
        })?;
        Ok(msg::SessionAborted { reason })
    }

    async fn session_established(&mut self, _to: Peer) -> Result<SessionHandle, ServiceError> {
        if let Some(why) = self.shortfall() {
            return Err(ServiceError::Invalid(format!(
                "asked to establish a failed session: {why}"
            )));
        }
        Ok(self.handle())
    }

    async fn on_outcome_ack(
        &mut self,
        from: Peer,
        msg: msg::OutcomeAck,
    ) -> Result<(), ServiceError> {
        self.ours(from, &msg.session_id)
    }
}

/// Runs the Coordinator: invites every participant into a session for
/// `purpose`, then establishes it iff at least `policy.min_participants`
/// accepted. A policy that needs more participants than are invited is
/// refused before anything is sent, and the participants are told why.
pub async fn run_coordinator<T: Transport>(
    session: Session<'_, T>,
    state: &mut CoordinatorState,
    purpose: &str,
) -> Result<CoordinatorOutcome, ServiceError> {
    let invited = family_size(&session, Role::Participants.index());
    let needed = state.policy.min_participants;
    match invited {
        Ok(invited) if needed > invited => {
            let why = format!("{needed} participants needed, {invited} invited");
            return Err(reject(session, ServiceError::Invalid(why)));
        }
        Ok(_) => {}
        Err(e) => return Err(reject(session, e)),
    }
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
    let mut code = CoordinatorSession {
        state,
        request,
        accepted: Vec::new(),
    };
    choreo_session_coordination_choreography::execute_as(
        choreo_session_coordination_choreography::As::Coordinator(&mut code),
        session,
        &choreo_session_coordination_choreography::Params::default(),
    )
    .await?;
    let (shortfall, handle) = (code.shortfall(), code.handle());
    let state = code.state;
    Ok(match shortfall {
        None => {
            let fact = SessionFact::Established(session_id, handle.members.clone());
            state.journal.record(fact);
            state.sessions.push(handle.clone());
            CoordinatorOutcome::Established(handle)
        }
        Some(reason) => {
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
    /// Its answer, once it chose: acceptance, or why it rejects.
    answer: Option<Result<(), String>>,
    outcome: Option<ParticipantOutcome>,
}

impl ParticipantSession<'_> {
    fn request(&self) -> Result<&SessionRequest, ServiceError> {
        self.request
            .as_ref()
            .ok_or(ServiceError::Missing("invitation"))
    }

    /// Why the policy rejects the request, if it does.
    fn objection(&self) -> Result<Option<String>, ServiceError> {
        let request = self.request()?;
        let policy = &self.state.policy;
        Ok(if !policy.purposes.contains(&request.purpose) {
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
        })
    }

    fn answer(&self) -> Result<&Result<(), String>, ServiceError> {
        self.answer
            .as_ref()
            .ok_or(ServiceError::Missing("invitation"))
    }
}

impl choreo_session_coordination_choreography::Participants for ParticipantSession<'_> {
    type Types = SessionTypes;
    type Error = ServiceError;

    async fn on_session_invite(
        &mut self,
        _from: Peer,
        msg: SessionRequest,
    ) -> Result<(), ServiceError> {
        self.request = Some(msg);
        Ok(())
    }

    async fn choose_accept_or_reject(&mut self) -> Result<AcceptOrReject, ServiceError> {
        let id = self.request()?.session_id;
        let answer = self.objection()?.map_or(Ok(()), Err);
        let (fact, choice) = match &answer {
            Ok(()) => (SessionFact::Accepted(id, self.me), AcceptOrReject::Accept),
            Err(why) => (
                SessionFact::Rejected(id, self.me, why.clone()),
                AcceptOrReject::Reject,
            ),
        };
        self.state.journal.record(fact);
        self.answer = Some(answer);
        Ok(choice)
    }

    async fn session_accept(&mut self, _to: Peer) -> Result<SessionResponse, ServiceError> {
        Ok(SessionResponse {
            session_id: self.request()?.session_id,
            device_key: self.state.device_key,
        })
    }

    async fn session_reject(&mut self, _to: Peer) -> Result<msg::SessionReject, ServiceError> {
        match self.answer()? {
            Err(why) => Ok(msg::SessionReject {
                reason: why.clone(),
            }),
            Ok(()) => Err(ServiceError::Invalid(
                "asked to reject an accepted invitation".into(),
            )),
        }
    }

    async fn on_session_aborted(
        &mut self,
        _from: Peer,
        msg: msg::SessionAborted,
    ) -> Result<(), ServiceError> {
        let fact = SessionFact::Aborted(self.request()?.session_id, msg.reason.clone());
        self.state.journal.record(fact);
        if self.answer()?.is_ok() {
            self.outcome = Some(ParticipantOutcome::Aborted { reason: msg.reason });
        }
        Ok(())
    }

    async fn on_session_established(
        &mut self,
        _from: Peer,
        msg: SessionHandle,
    ) -> Result<(), ServiceError> {
        if msg.session_id != self.request()?.session_id {
            return Err(ServiceError::Refused(
                "another session was established".into(),
            ));
        }
        let fact = SessionFact::Established(msg.session_id, msg.members.clone());
        self.state.journal.record(fact);
        let member = msg.members.contains(&self.me);
        match (self.answer()?.is_ok(), member) {
            (true, true) => {
                self.state.sessions.push(msg.clone());
                self.outcome = Some(ParticipantOutcome::Joined(msg));
                Ok(())
            }
            (false, false) => Ok(()),
            (true, false) => Err(ServiceError::Refused(
                "accepted, but the established session leaves this participant out".into(),
            )),
            (false, true) => Err(ServiceError::Refused(
                "rejected, but the established session lists this participant".into(),
            )),
        }
    }

    async fn outcome_ack(&mut self, _to: Peer) -> Result<msg::OutcomeAck, ServiceError> {
        Ok(msg::OutcomeAck {
            session_id: self.request()?.session_id,
        })
    }
}

/// Runs a participant: accepts or rejects the invitation from its policy,
/// then learns whether the session was established.
pub async fn run_participant<T: Transport>(
    session: Session<'_, T>,
    state: &mut ParticipantState,
) -> Result<ParticipantOutcome, ServiceError> {
    let me = match own_index(&session, Role::Participants.name()) {
        Ok(me) => me,
        Err(e) => return Err(reject(session, e)),
    };
    let mut code = ParticipantSession {
        state,
        me,
        request: None,
        answer: None,
        outcome: None,
    };
    choreo_session_coordination_choreography::execute_as(
        choreo_session_coordination_choreography::As::Participants(&mut code),
        session,
        &choreo_session_coordination_choreography::Params::default(),
    )
    .await?;
    match (code.answer, code.outcome) {
        (Some(Err(reason)), _) => Ok(ParticipantOutcome::Declined { reason }),
        (Some(Ok(())), Some(outcome)) => Ok(outcome),
        _ => Err(ServiceError::Missing("session outcome")),
    }
}
