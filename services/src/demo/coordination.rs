//! SessionCoordinationChoreography: set up a session among invited agents.
//!
//! Implements the seed entry **SessionCoordinationChoreography**
//! (CHOREO-AGENT-001, owner `aura-agent`, seed entry point
//! `handlers/sessions/coordination.rs`). Decision sourcing as the seed says:
//! request, invitation and responses come from the session manager's state;
//! each participant accepts or rejects from its policy (the purposes it takes
//! part in, how many sessions it may hold, the request's expiry); the
//! Coordinator reports success iff enough participants accepted, by its
//! validation policy. Both decisions are branches of the protocol.
//!
//! An acceptance is signed by the accepting device (Ed25519) over the
//! session and its member index, and the established session's handle by
//! the Coordinator, whose key the participants know. A value that fails a
//! check (an acceptance or outcome ack of another session, a forged
//! signature, a handle of another session or one that lists a participant
//! against its answer or with another key) is refused as
//! [`ServiceError::Unverified`], which cancels the set-up.
//!
//! # Who learns what
//!
//! - The invitation (session id, purpose, participants needed, expiry)
//!   reaches every invited participant, so being invited reveals the
//!   participant set to those neighbours (`leak = "Neighbor"`, the only
//!   leak annotation of the protocol).
//! - The Coordinator learns each participant's answer: an acceptance with
//!   the device's public key, or a rejection with its reason.
//! - The handle tells every participant (of the same, already revealed
//!   set) who is a member and the members' public device keys. Nothing
//!   secret travels; each signing key stays with its holder (zeroized on
//!   drop).
//! - Each side records its node's facts ([`SessionFact`]): the Coordinator
//!   the invitation, the answers and the outcome, a participant its answer
//!   and the outcome it was told.
//! - Not covered by a signature: a rejection and an abort (plain reasons,
//!   payloads of the protocol), and the outcome ack (a bare session id,
//!   checked against the session).

use choreo_runtime::{Peer, Session, Transport};
use choreo_session_coordination_choreography::choice::{AcceptOrReject, FailureOrSuccess};
use choreo_session_coordination_choreography::{msg, Role};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Digest, Signature, SigningKey, VerifyingKey};
use crate::error::Check;
use crate::journal::{DomainFact, FactLog};
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

/// A participant's acceptance, signed by the device it joins with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The session accepted.
    pub session_id: SessionId,
    /// The public key of the accepting device.
    pub device_key: VerifyingKey,
    /// The device's signature over the session and its member index.
    pub signature: Signature,
}

const ACCEPT: &str = "choreo-services/sessions/accept";
const ESTABLISHED: &str = "choreo-services/sessions/established";

impl SessionResponse {
    /// The acceptance of session `session_id` by member `member`, signed
    /// by its device key `key`.
    pub fn signed(key: &SigningKey, session_id: SessionId, member: u16) -> Self {
        let device_key = key.verifying_key();
        let signature = key.sign(ACCEPT, &[&session_id, &member.to_le_bytes(), &device_key.0]);
        SessionResponse {
            session_id,
            device_key,
            signature,
        }
    }

    /// Checks that member `member` signed this acceptance with its key.
    fn verify(&self, member: u16) -> Result<(), crypto::CryptoError> {
        let parts: [&[u8]; 3] = [&self.session_id, &member.to_le_bytes(), &self.device_key.0];
        self.device_key.verify(ACCEPT, &parts, &self.signature)
    }
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
    /// The members' device keys, in the order of `members`.
    pub keys: Vec<VerifyingKey>,
    /// When it was established.
    pub established_at: u64,
    /// The Coordinator's signature over all of the above.
    pub signature: Signature,
}

/// What the Coordinator signs of a handle.
fn handle_body(
    session_id: &SessionId,
    purpose: &str,
    members: &[u16],
    keys: &[VerifyingKey],
    established_at: u64,
) -> Vec<u8> {
    crypto::encode(&(session_id, purpose, members, keys, established_at))
}

impl SessionHandle {
    /// The handle of session `session_id` for `purpose` with `members`
    /// (member index and device key), signed by the Coordinator's `key`.
    pub fn signed(
        key: &SigningKey,
        session_id: SessionId,
        purpose: &str,
        members: &[(u16, VerifyingKey)],
        established_at: u64,
    ) -> Self {
        let (members, keys): (Vec<u16>, Vec<VerifyingKey>) = members.iter().copied().unzip();
        let body = handle_body(&session_id, purpose, &members, &keys, established_at);
        SessionHandle {
            signature: key.sign(ESTABLISHED, &[&body]),
            session_id,
            purpose: purpose.to_owned(),
            members,
            keys,
            established_at,
        }
    }

    /// Checks the Coordinator's signature under `coordinator`.
    fn verify(&self, coordinator: &VerifyingKey) -> Result<(), crypto::CryptoError> {
        let body = handle_body(
            &self.session_id,
            &self.purpose,
            &self.members,
            &self.keys,
            self.established_at,
        );
        coordinator.verify(ESTABLISHED, &[&body], &self.signature)
    }
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

impl DomainFact for SessionFact {
    const PROTOCOL: &'static str = "SessionCoordinationChoreography";

    fn kind(&self) -> &'static str {
        match self {
            SessionFact::Invited(..) => "Invited",
            SessionFact::Accepted(..) => "Accepted",
            SessionFact::Rejected(..) => "Rejected",
            SessionFact::Established(..) => "Established",
            SessionFact::Aborted(..) => "Aborted",
        }
    }
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
    /// The key it signs established sessions with (zeroized on drop).
    pub signing_key: SigningKey,
    /// Validation policy.
    pub policy: CoordinatorPolicy,
    /// The current time.
    pub now: u64,
    /// Sessions created so far (the next id's sequence number).
    pub created: u64,
    /// Established sessions.
    pub sessions: Vec<SessionHandle>,
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
    log: FactLog,
    request: SessionRequest,
    accepted: Vec<(u16, VerifyingKey)>,
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
        SessionHandle::signed(
            &self.state.signing_key,
            self.request.session_id,
            &self.request.purpose,
            &accepted,
            self.state.now,
        )
    }

    /// Refuses `from`'s value of another session.
    fn ours(&self, from: Peer, session_id: &SessionId, what: &str) -> Result<(), ServiceError> {
        if *session_id == self.request.session_id {
            Ok(())
        } else {
            Err(ServiceError::unverified(
                Check::Binding,
                format!("{from} sent {what} of another session"),
            ))
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
        self.ours(from, &msg.session_id, "an acceptance")?;
        let member = index_of(from)?;
        msg.verify(member).map_err(|_| {
            ServiceError::unverified(Check::Signature, format!("the acceptance of {from}"))
        })?;
        let id = self.request.session_id;
        self.log.record(SessionFact::Accepted(id, member)).await?;
        self.accepted.push((member, msg.device_key));
        Ok(())
    }

    async fn on_session_reject(
        &mut self,
        from: Peer,
        msg: msg::SessionReject,
    ) -> Result<(), ServiceError> {
        let fact = SessionFact::Rejected(self.request.session_id, index_of(from)?, msg.reason);
        self.log.record(fact).await
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
        self.ours(from, &msg.session_id, "an outcome ack")
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
        expires_at: state.now.saturating_add(state.policy.invitation_ttl),
    };
    let log = FactLog::of(&session);
    if let Err(e) = log.record(SessionFact::Invited(session_id)).await {
        return Err(reject(session, e));
    }
    let mut code = CoordinatorSession {
        state,
        log: log.clone(),
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
            log.record(fact).await?;
            state.sessions.push(handle.clone());
            CoordinatorOutcome::Established(handle)
        }
        Some(reason) => {
            log.record(SessionFact::Aborted(session_id, reason.clone()))
                .await?;
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
    /// The key this device joins sessions with (zeroized on drop).
    pub device_key: SigningKey,
    /// The key of the Coordinator whose sessions it joins.
    pub coordinator_key: VerifyingKey,
    /// Its policy.
    pub policy: ParticipantPolicy,
    /// The current time.
    pub now: u64,
    /// Sessions it is a member of.
    pub sessions: Vec<SessionHandle>,
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
    log: FactLog,
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

    /// Checks that `handle` is this session's, signed by the Coordinator,
    /// and lists this participant, with its key, iff it accepted.
    fn check_handle(&self, handle: &SessionHandle) -> Result<(), ServiceError> {
        handle.verify(&self.state.coordinator_key).map_err(|_| {
            ServiceError::unverified(Check::Signature, "the established session's handle")
        })?;
        if handle.session_id != self.request()?.session_id {
            return Err(ServiceError::unverified(
                Check::Binding,
                "another session was established",
            ));
        }
        let listed = handle.members.iter().position(|m| *m == self.me);
        match (self.answer()?.is_ok(), listed) {
            (false, None) => Ok(()),
            (true, Some(at))
                if handle.keys.get(at) == Some(&self.state.device_key.verifying_key()) =>
            {
                Ok(())
            }
            (true, Some(_)) => Err(ServiceError::unverified(
                Check::Binding,
                "the established session lists this participant with another key",
            )),
            (true, None) => Err(ServiceError::unverified(
                Check::Binding,
                "accepted, but the established session leaves this participant out",
            )),
            (false, Some(_)) => Err(ServiceError::unverified(
                Check::Binding,
                "rejected, but the established session lists this participant",
            )),
        }
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
        self.log.record(fact).await?;
        self.answer = Some(answer);
        Ok(choice)
    }

    async fn session_accept(&mut self, _to: Peer) -> Result<SessionResponse, ServiceError> {
        let id = self.request()?.session_id;
        Ok(SessionResponse::signed(&self.state.device_key, id, self.me))
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
        self.log.record(fact).await?;
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
        self.check_handle(&msg)?;
        let fact = SessionFact::Established(msg.session_id, msg.members.clone());
        self.log.record(fact).await?;
        if self.answer()?.is_ok() {
            self.state.sessions.push(msg.clone());
            self.outcome = Some(ParticipantOutcome::Joined(msg));
        }
        Ok(())
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
        log: FactLog::of(&session),
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
