//! GuardianCeremony as processes: the only place that knows the ceremony's
//! state types and calls [`run_initiator`] / [`run_guardian`] for a process.
//!
//! **Demo state.** A process has no store of identity keys yet, so each one
//! builds its service state from a *demo seed* given on the command line:
//! the account's prestate and every party's Ed25519 identity key are derived
//! from it with [`crypto::digest`]. Anyone who knows the seed can sign as
//! anyone: this makes the processes of a demo know each other's public keys
//! without exchanging anything, it protects nothing. The ceremony's own
//! secrets (the new key, the shares and the keys they are sealed to) are
//! fresh randomness of the processes, never derived from the seed. A
//! deployment replaces [`initiator_state`] and [`guardian_state`] with keys
//! loaded from the node's own storage.

use std::time::Duration;

use choreo_guardian_ceremony::PROTOCOL;
use choreo_runtime::{CeremonyTracker, Journal, Peer, RoleContext};

use super::{error_class, Host, Out, Tally};
use crate::crypto::{self, Digest, SigningKey, VerifyingKey};
use crate::journal;
use crate::recovery::guardian_ceremony::{
    run_guardian, run_initiator, AccountState, CeremonyFact, CeremonyPolicy, GuardianOutcome,
    GuardianPolicy, GuardianState, InitiatorOutcome, InitiatorState,
};
use crate::ServiceError;

/// The capabilities of each role, as the protocol's guards ask for them.
const INITIATOR_CAPABILITIES: [&str; 3] = ["ceremony:propose", "ceremony:commit", "ceremony:abort"];
const GUARDIAN_CAPABILITIES: [&str; 1] = ["ceremony:respond"];
/// Flow budget per peer and ceremony (a ceremony spends 200 towards each
/// guardian and 210 towards the Initiator); replenished for every ceremony.
const BUDGET: u64 = 1_000;
/// The epoch every demo account starts at.
const START_EPOCH: u64 = 7;

/// What the command line asks of a ceremony process.
#[derive(Clone, Debug)]
pub struct Options {
    /// The demo seed every process derives its state from (see the module docs).
    pub seed: String,
    /// Ceremonies to run (Initiator) or take part in (Guardian), one after another.
    pub ceremonies: u32,
    /// Acceptances the Initiator needs to commit (default: a majority).
    pub threshold: Option<u16>,
    /// How long the Initiator waits for its links before a ceremony, and a
    /// Guardian for the next ceremony to be opened.
    pub wait: Duration,
}

fn derive(seed: &str, what: &str, index: u32) -> Digest {
    crypto::digest(
        "choreo-role demo state",
        &[seed.as_bytes(), what.as_bytes(), &index.to_le_bytes()],
    )
}

/// The demo identity key of the Initiator (`None`) or of guardian `Some(k)`.
fn identity(seed: &str, guardian: Option<u32>) -> SigningKey {
    let key = match guardian {
        None => derive(seed, "identity: Initiator", 0),
        Some(k) => derive(seed, "identity: Guardian", k),
    };
    SigningKey::from_seed(&key)
}

/// The Initiator's demo state for `guardians` guardians, its ceremonies
/// tracked in `journal` (see the module docs).
pub fn initiator_state(
    seed: &str,
    guardians: u32,
    threshold: u16,
    journal: Journal,
) -> InitiatorState {
    InitiatorState {
        account: AccountState {
            prestate: derive(seed, "prestate", 0),
            epoch: START_EPOCH,
        },
        policy: CeremonyPolicy { threshold },
        identity: identity(seed, None),
        guardians: (0..guardians)
            .map(|k| identity(seed, Some(k)).verifying_key())
            .collect(),
        tracker: CeremonyTracker::new(journal),
    }
}

/// Guardian `k`'s demo state (see the module docs).
pub fn guardian_state(seed: &str, k: u32) -> GuardianState {
    let initiator: VerifyingKey = identity(seed, None).verifying_key();
    GuardianState {
        view: AccountState {
            prestate: derive(seed, "prestate", 0),
            epoch: START_EPOCH,
        },
        policy: GuardianPolicy { min_threshold: 2 },
        identity: identity(seed, Some(k)),
        initiator,
        share: None,
    }
}

/// Runs the role `host` plays for `options.ceremonies` ceremonies,
/// reporting each to `out`.
pub async fn run(host: &Host, options: &Options, out: &Out) -> Result<Tally, ServiceError> {
    let me = host.me;
    match (me.name(), me.index()) {
        ("Initiator", None) => initiator(host, options, out).await,
        ("Guardian", Some(k)) => guardian(host, k, options, out).await,
        _ => Err(ServiceError::Invalid(format!(
            "{me} is not a role of GuardianCeremony"
        ))),
    }
}

fn members(list: &[u16]) -> String {
    let names: Vec<String> = list.iter().map(|k| format!("Guardian[{k}]")).collect();
    if names.is_empty() {
        "nobody".into()
    } else {
        names.join(" ")
    }
}

/// One fact of a ceremony journal, in words.
fn describe(fact: &CeremonyFact) -> String {
    match fact {
        CeremonyFact::Proposed { new_epoch, .. } => format!("proposed epoch {new_epoch}"),
        CeremonyFact::Responded { guardian, accepted } => format!(
            "Guardian[{guardian}] {}",
            if *accepted { "accepted" } else { "declined" }
        ),
        CeremonyFact::Committed { new_epoch, .. } => format!("committed epoch {new_epoch}"),
        CeremonyFact::Aborted { reason, .. } => format!("aborted: {reason}"),
        CeremonyFact::ShareInstalled {
            guardian,
            new_epoch,
        } => format!("Guardian[{guardian}] installed its share for epoch {new_epoch}"),
    }
}

/// The ceremony facts this node has recorded so far.
fn ceremony_facts(journal: &Journal) -> Result<Vec<CeremonyFact>, ServiceError> {
    journal::facts::<CeremonyFact>(journal)
}

/// Reports the ceremony facts recorded since the first `before`.
fn report_facts(out: &Out, me: Peer, i: u32, journal: &Journal, before: usize) {
    let line = match ceremony_facts(journal) {
        Ok(facts) => facts
            .get(before..)
            .unwrap_or_default()
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("unreadable ({e})"),
    };
    out(format!("{me}: ceremony {i}: journal: {line}"));
}

fn failed(out: &Out, me: Peer, i: u32, e: &ServiceError, tally: &mut Tally) {
    tally.failures += 1;
    out(format!(
        "{me}: ceremony {i}: failed ({}): {e}",
        error_class(e)
    ));
}

async fn initiator(host: &Host, options: &Options, out: &Out) -> Result<Tally, ServiceError> {
    let me = host.me;
    let guardians = host.placement.roster.family_size("Guardian").unwrap_or(0);
    let threshold = options
        .threshold
        .unwrap_or(u16::try_from(guardians / 2 + 1).unwrap_or(u16::MAX));
    let journal = host.node.journal().clone();
    let mut state = initiator_state(&options.seed, guardians, threshold, journal.clone());
    let mut ctx = RoleContext::new()
        .with_capabilities(INITIATOR_CAPABILITIES)
        .with_default_budget(BUDGET);
    let mut tally = Tally::default();
    for i in 1..=options.ceremonies {
        if let Err(why) = host.linked(options.wait).await {
            let e = ServiceError::Invalid(format!("cannot start: {why}"));
            failed(out, me, i, &e, &mut tally);
            continue;
        }
        ctx.advance_epoch();
        let id = host.node.new_session_id();
        let session = host
            .node
            .session(&PROTOCOL, id, &host.placement.roster, me, &mut ctx)?;
        out(format!(
            "{me}: ceremony {i}: session {id}: proposing epoch {} to {guardians} guardians, threshold {threshold}",
            state.account.epoch + 1
        ));
        let before = ceremony_facts(&journal)?.len();
        match run_initiator(session, &mut state).await {
            Ok(InitiatorOutcome::Committed {
                new_epoch,
                accepted_by,
                installed_by,
                ..
            }) => {
                tally.outcomes += 1;
                out(format!(
                    "{me}: ceremony {i}: outcome committed epoch {new_epoch}; accepted by {}; shares installed by {}",
                    members(&accepted_by),
                    members(&installed_by)
                ));
            }
            Ok(InitiatorOutcome::Aborted { reason }) => {
                tally.outcomes += 1;
                out(format!("{me}: ceremony {i}: outcome aborted: {reason}"));
            }
            Err(e) => failed(out, me, i, &e, &mut tally),
        }
        report_facts(out, me, i, &journal, before);
    }
    Ok(tally)
}

async fn guardian(
    host: &Host,
    k: u32,
    options: &Options,
    out: &Out,
) -> Result<Tally, ServiceError> {
    let me = host.me;
    let mut state = guardian_state(&options.seed, k);
    let journal = host.node.journal().clone();
    let mut ctx = RoleContext::new()
        .with_capabilities(GUARDIAN_CAPABILITIES)
        .with_default_budget(BUDGET);
    let mut listener = host.node.listen(&PROTOCOL, &host.placement.roster, me, 4)?;
    let mut tally = Tally::default();
    for i in 1..=options.ceremonies {
        ctx.advance_epoch();
        let session = match tokio::time::timeout(options.wait, listener.accept(&mut ctx)).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(ServiceError::Invalid("the node stopped".into())),
            Err(_) => {
                let e = ServiceError::Invalid(format!(
                    "no ceremony opened within {} ms",
                    options.wait.as_millis()
                ));
                failed(out, me, i, &e, &mut tally);
                return Ok(tally);
            }
        };
        out(format!(
            "{me}: ceremony {i}: session {} opened by Initiator",
            session.id()
        ));
        let before = ceremony_facts(&journal)?.len();
        match run_guardian(session, &mut state).await {
            Ok(GuardianOutcome::Installed { epoch }) => {
                tally.outcomes += 1;
                out(format!(
                    "{me}: ceremony {i}: outcome installed share {k} for epoch {epoch}"
                ));
            }
            Ok(GuardianOutcome::Declined { epoch }) => {
                tally.outcomes += 1;
                out(format!(
                    "{me}: ceremony {i}: outcome declined; the others moved to epoch {epoch}"
                ));
            }
            Ok(GuardianOutcome::Aborted { reason }) => {
                tally.outcomes += 1;
                out(format!("{me}: ceremony {i}: outcome aborted: {reason}"));
            }
            Err(e) => failed(out, me, i, &e, &mut tally),
        }
        report_facts(out, me, i, &journal, before);
    }
    Ok(tally)
}
