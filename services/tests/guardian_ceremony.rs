//! GuardianCeremony through the recovery service: Commit and Abort, decided
//! from the Initiator's threshold policy, its ceremony tracker and each
//! guardian's view; supersession; and hostile peers (a role of the test's own
//! that forges, replays or misdirects a value), which the honest roles refuse
//! with a typed error, recording nothing of the refused step.

mod common;

use std::collections::BTreeMap;

use choreo_guardian_ceremony::choice::{AbortOrCommit, DeliverOrSkip};
use choreo_guardian_ceremony::msg;
use choreo_runtime::journal::{CeremonyId, PrestateHash};
use choreo_runtime::{CeremonyTracker, Peer, Session};
use choreo_services::crypto::{self, frost, Digest, SealPublic, Signature, SigningKey};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::recovery::guardian_ceremony::{
    run_guardian, run_initiator, AccountState, CeremonyAbort, CeremonyCommit, CeremonyFact,
    CeremonyPolicy, CeremonyProposal, CeremonyResponse, EncryptedKeyShare, GuardianCeremonyTypes,
    GuardianOutcome, GuardianPolicy, GuardianState, InitiatorOutcome, InitiatorState, OP_TYPE,
};
use choreo_services::ServiceError;
use common::{assert_cancelled, Harness, BUDGET, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const INITIATOR_CAPS: &[&str] = &["ceremony:propose", "ceremony:commit", "ceremony:abort"];
const GUARDIAN_CAPS: &[&str] = &["ceremony:respond"];
const CAPS: &[(&str, &[&str])] = &[("Initiator", INITIATOR_CAPS), ("Guardian", GUARDIAN_CAPS)];
const INITIATOR: Peer = Peer::role("Initiator");

fn prestate() -> Digest {
    crypto::digest("account-state", &[b"tree at epoch 7"])
}

/// The identity keys of one test: the Initiator's and each guardian's.
struct Keys {
    initiator: SigningKey,
    guardians: Vec<SigningKey>,
}

impl Keys {
    fn new(n: u32) -> Keys {
        Keys {
            initiator: SigningKey::generate(),
            guardians: (0..n).map(|_| SigningKey::generate()).collect(),
        }
    }

    fn initiator(&self, h: &Harness, threshold: u16) -> InitiatorState {
        InitiatorState {
            account: AccountState {
                prestate: prestate(),
                epoch: 7,
            },
            policy: CeremonyPolicy { threshold },
            identity: self.initiator.clone(),
            guardians: self
                .guardians
                .iter()
                .map(SigningKey::verifying_key)
                .collect(),
            tracker: CeremonyTracker::new(h.node(INITIATOR).journal().clone()),
        }
    }

    /// Guardian `k`; a stale one has not seen the account's latest state.
    fn guardian(&self, k: usize, stale: bool) -> GuardianState {
        let prestate = if stale {
            crypto::digest("old", &[])
        } else {
            prestate()
        };
        GuardianState {
            view: AccountState { prestate, epoch: 7 },
            policy: GuardianPolicy { min_threshold: 2 },
            identity: self.guardians[k].clone(),
            initiator: self.initiator.verifying_key(),
            share: None,
        }
    }
}

fn harness(n: u32) -> Harness {
    Harness::new(
        &choreo_guardian_ceremony::PROTOCOL,
        &[("Guardian", n)],
        CAPS,
    )
}

fn guardian_peer(k: usize) -> Peer {
    Peer::member("Guardian", k as u32)
}

/// The ceremony facts `peer`'s node recorded.
fn ceremony_facts(h: &Harness, peer: Peer) -> Vec<CeremonyFact> {
    facts(h.node(peer).journal()).expect("the facts decode")
}

type GuardianRun = (Result<GuardianOutcome, ServiceError>, GuardianState);

/// Runs one ceremony of `initiator` with `guardians`, all roles at once.
async fn ceremony(
    h: &mut Harness,
    initiator: &mut InitiatorState,
    mut guardians: Vec<GuardianState>,
) -> (Result<InitiatorOutcome, ServiceError>, Vec<GuardianRun>) {
    let n = guardians.len() as u32;
    let mut sessions = h.join();
    let lead = sessions.take(INITIATOR);
    let members = sessions.members("Guardian", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_initiator(lead, initiator),
        join_all(
            members
                .into_iter()
                .zip(guardians.iter_mut())
                .map(|(s, state)| run_guardian(s, state))
        ),
    );
    (outcome, outcomes.into_iter().zip(guardians).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_installs_a_share_of_the_new_key_at_every_guardian_that_accepted() {
    for (n, threshold, stale) in [(2, 2, 0), (5, 3, 0), (5, 3, 2)] {
        let mut h = harness(n);
        let keys = Keys::new(n);
        let mut initiator = keys.initiator(&h, threshold);
        let guardians = (0..n as usize)
            .map(|k| keys.guardian(k, k as u32 >= n - stale))
            .collect();
        let (outcome, guardians) = ceremony(&mut h, &mut initiator, guardians).await;
        let accepted: Vec<u16> = (0..(n - stale) as u16).collect();
        let Ok(InitiatorOutcome::Committed {
            new_epoch,
            accepted_by,
            installed_by,
            public_keys,
        }) = outcome
        else {
            panic!("{n} guardians, {stale} stale: {outcome:?}");
        };
        assert_eq!(
            (new_epoch, &accepted_by, &installed_by),
            (8, &accepted, &accepted)
        );
        assert_eq!(initiator.account.epoch, 8);
        let id = CeremonyId(match &ceremony_facts(&h, INITIATOR)[0] {
            CeremonyFact::Proposed { ceremony_id, .. } => *ceremony_id,
            other => panic!("the first fact is the proposal, not {other:?}"),
        });
        assert_eq!(
            initiator.tracker.status(&id).unwrap(),
            Some(choreo_runtime::journal::ceremony::CeremonyStatus::Committed)
        );
        let mine = ceremony_facts(&h, INITIATOR);
        let installs = mine
            .iter()
            .filter(|f| matches!(f, CeremonyFact::ShareInstalled { .. }))
            .count();
        assert_eq!(installs, accepted.len());
        // The guard chain's fact of the annotated commit send, one per guardian.
        let journal = h.node(INITIATOR).journal();
        assert_eq!(
            journal.count("CeremonyFact::Committed").unwrap(),
            u64::from(n)
        );
        // Proposal 100, commit 50, share 50 to a guardian that accepted.
        assert_eq!(
            h.context(INITIATOR).remaining_budget(&guardian_peer(0)),
            BUDGET - 200
        );

        let mut packages = Vec::new();
        for (k, (outcome, state)) in guardians.iter().enumerate() {
            let declined = k as u32 >= n - stale;
            let theirs = ceremony_facts(&h, guardian_peer(k));
            let fact = CeremonyFact::Responded {
                guardian: k as u16,
                accepted: !declined,
            };
            assert!(theirs.contains(&fact), "Guardian[{k}] journal: {theirs:?}");
            if declined {
                assert_eq!(outcome, &Ok(GuardianOutcome::Declined { epoch: 8 }));
                assert_eq!(state.share, None, "Guardian[{k}] declined: no share");
                assert_eq!(state.view.epoch, 7);
                assert!(!theirs
                    .iter()
                    .any(|f| matches!(f, CeremonyFact::ShareInstalled { .. })));
                continue;
            }
            assert_eq!(
                outcome,
                &Ok(GuardianOutcome::Installed { epoch: 8 }),
                "Guardian[{k}]"
            );
            let held = state.share.as_ref().expect("a share is installed");
            assert_eq!(held.epoch, 8);
            assert_eq!(
                held.key_package.identifier(),
                &crypto::identifier(k as u16).unwrap()
            );
            assert_eq!(
                held.key_package.verifying_key(),
                public_keys.verifying_key()
            );
            packages.push(held.key_package.clone());
        }
        // Any `threshold` of the installed shares rebuild the new key; fewer do not.
        let t = usize::from(threshold);
        let key = frost::keys::reconstruct(&packages[packages.len() - t..]).expect("t shares");
        assert_eq!(
            &frost::VerifyingKey::from(&key),
            public_keys.verifying_key()
        );
        assert!(frost::keys::reconstruct(&packages[..t - 1]).is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_when_fewer_than_the_threshold_accept() {
    for (n, threshold, stale, accepted) in [(2, 2, 1, 1), (5, 3, 3, 2)] {
        let mut h = harness(n);
        let keys = Keys::new(n);
        let mut initiator = keys.initiator(&h, threshold);
        let guardians = (0..n as usize)
            .map(|k| keys.guardian(k, k as u32 >= n - stale))
            .collect();
        let (outcome, guardians) = ceremony(&mut h, &mut initiator, guardians).await;
        let Ok(InitiatorOutcome::Aborted { reason }) = outcome else {
            panic!("{n} guardians, {stale} stale: expected Abort, got {outcome:?}");
        };
        assert!(
            reason.starts_with(&format!("{accepted} of {n} guardians accepted")),
            "{reason}"
        );
        assert_eq!(initiator.account.epoch, 7, "the epoch does not advance");
        let mine = ceremony_facts(&h, INITIATOR);
        assert!(mine.contains(&CeremonyFact::Aborted {
            ceremony_id: match &mine[0] {
                CeremonyFact::Proposed { ceremony_id, .. } => *ceremony_id,
                other => panic!("{other:?}"),
            },
            reason: reason.clone()
        }));
        assert!(!mine
            .iter()
            .any(|f| matches!(f, CeremonyFact::Committed { .. })));
        for (k, (outcome, state)) in guardians.iter().enumerate() {
            assert_eq!(
                outcome,
                &Ok(GuardianOutcome::Aborted {
                    reason: reason.clone()
                }),
                "Guardian[{k}]"
            );
            assert_eq!(state.share, None);
            assert_eq!(state.view.epoch, 7);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_threshold_above_the_family_is_refused_before_anything_is_sent() {
    for threshold in [3, 1] {
        let mut h = harness(2);
        let keys = Keys::new(2);
        let started = Instant::now();
        let mut initiator = keys.initiator(&h, threshold);
        let guardians = (0..2).map(|k| keys.guardian(k, false)).collect();
        let (outcome, guardians) = ceremony(&mut h, &mut initiator, guardians).await;
        let why = format!("threshold {threshold} of 2");
        assert!(
            matches!(outcome, Err(ServiceError::Invalid(ref w)) if w.contains(&why)),
            "{outcome:?}"
        );
        assert_eq!(h.node(INITIATOR).journal().len().unwrap(), 0);
        for (k, (outcome, _)) in guardians.iter().enumerate() {
            assert_cancelled(outcome, INITIATOR, &why);
            assert_eq!(h.node(guardian_peer(k)).journal().len().unwrap(), 0);
        }
        assert!(started.elapsed() < TIMEOUT, "nobody waited for a timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_superseded_while_open_cannot_commit() {
    let mut h = harness(2);
    let keys = Keys::new(2);
    let mut first = keys.initiator(&h, 2);
    // A second ceremony of the same account starts on the same prestate while
    // the first is open (the first has started in the tracker, as
    // `run_initiator` does before proposing).
    let tracker = first.tracker.clone();
    let older = CeremonyId([1; 32]);
    tracker
        .start(older, PrestateHash(prestate()), OP_TYPE)
        .await
        .unwrap();
    let guardians = (0..2).map(|k| keys.guardian(k, false)).collect();
    let (outcome, _) = ceremony(&mut h, &mut first, guardians).await;
    assert!(
        matches!(outcome, Ok(InitiatorOutcome::Committed { .. })),
        "{outcome:?}"
    );
    // The newer ceremony superseded the older one, whose commit is refused.
    assert!(tracker.is_superseded(&older).unwrap());
    assert!(tracker.record_commit(&older).await.is_err());

    // And a ceremony superseded while it waits for its guardians aborts.
    let mut h = harness(2);
    let keys = Keys::new(2);
    let mut state = keys.initiator(&h, 2);
    let tracker = state.tracker.clone();
    let (outcome, superseded, g0, g1) = {
        let mut sessions = h.join();
        let lead = sessions.take(INITIATOR);
        let members = sessions.members("Guardian", 2);
        sessions.done();
        let (release, wait) = tokio::sync::watch::channel(false);
        let slow = |session, k: usize| {
            let mut wait = wait.clone();
            let mut state = keys.guardian(k, false);
            async move {
                // Answers only once the newer ceremony started.
                wait.wait_for(|go| *go).await.unwrap();
                run_guardian(session, &mut state).await
            }
        };
        let newer = async {
            // Waits until the first ceremony started, then starts a newer one.
            while tracker.open_ceremonies(OP_TYPE).unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
            let started = tracker
                .start(CeremonyId([2; 32]), PrestateHash(prestate()), OP_TYPE)
                .await
                .unwrap();
            release.send(true).unwrap();
            started
        };
        let mut members = members.into_iter();
        let (a, b) = (members.next().unwrap(), members.next().unwrap());
        tokio::join!(
            run_initiator(lead, &mut state),
            newer,
            slow(a, 0),
            slow(b, 1)
        )
    };
    assert_eq!(
        superseded.len(),
        1,
        "the newer ceremony superseded the open one"
    );
    let Ok(InitiatorOutcome::Aborted { reason }) = outcome else {
        panic!("expected Abort, got {outcome:?}");
    };
    assert!(reason.contains("cannot commit"), "{reason}");
    assert_eq!(
        g0,
        Ok(GuardianOutcome::Aborted {
            reason: reason.clone()
        })
    );
    assert_eq!(g1, Ok(GuardianOutcome::Aborted { reason }));
    assert_eq!(state.account.epoch, 7);
    for k in 0..2 {
        assert!(!ceremony_facts(&h, guardian_peer(k))
            .iter()
            .any(|f| matches!(f, CeremonyFact::Committed { .. })));
    }
}

/// What a hostile Initiator gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// Signs the proposal with a key the guardians do not know.
    ForgedProposal,
    /// Commits to another epoch than it proposed.
    StaleCommit,
    /// Sends the commit without recording it in its journal (as for a
    /// superseded ceremony).
    UnrecordedCommit,
    /// Deals Guardian[1]'s share from another key than the announced one.
    ForeignShare,
    /// Sends Guardian[1] the share of Guardian[0] (sealed to Guardian[1]).
    OthersShare,
    /// Seals Guardian[1]'s share to a key Guardian[1] does not hold.
    MisSealed,
    /// Labels Guardian[1]'s share with another index.
    WrongIndex,
    /// Skips Guardian[1], which accepted.
    SkipsAccepted,
    /// Aborts, naming another ceremony.
    ForeignAbort,
}

/// An Initiator of the test's own: honest but for one `lie`.
struct HostileInitiator {
    lie: Lie,
    identity: SigningKey,
    tracker: CeremonyTracker,
    proposal: CeremonyProposal,
    keys: BTreeMap<u16, SealPublic>,
    shares: BTreeMap<u16, frost::keys::SecretShare>,
    foreign: BTreeMap<u16, frost::keys::SecretShare>,
    group_key: Vec<u8>,
    round: u16,
}

fn unsigned() -> Signature {
    Signature::from_bytes([0; 64])
}

fn deal(members: &[u16]) -> (BTreeMap<u16, frost::keys::SecretShare>, Vec<u8>) {
    let ids: Vec<_> = members
        .iter()
        .map(|g| crypto::identifier(*g).unwrap())
        .collect();
    let (mut shares, public) = frost::keys::generate_with_dealer(
        members.len() as u16,
        2,
        frost::keys::IdentifierList::Custom(&ids),
        crypto::rng(),
    )
    .unwrap();
    let by_member = members
        .iter()
        .map(|g| (*g, shares.remove(&crypto::identifier(*g).unwrap()).unwrap()))
        .collect();
    (by_member, public.verifying_key().serialize().unwrap())
}

impl HostileInitiator {
    async fn new(lie: Lie, keys: &Keys, h: &Harness) -> HostileInitiator {
        let identity = if lie == Lie::ForgedProposal {
            SigningKey::generate()
        } else {
            keys.initiator.clone()
        };
        let ceremony_id = crypto::digest("hostile ceremony", &[]);
        let proposal = CeremonyProposal {
            ceremony_id,
            prestate: prestate(),
            new_epoch: 8,
            threshold: 2,
            total: 2,
            signature: unsigned(),
        }
        .sign(&identity);
        let tracker = CeremonyTracker::new(h.node(INITIATOR).journal().clone());
        tracker
            .start(CeremonyId(ceremony_id), PrestateHash(prestate()), OP_TYPE)
            .await
            .unwrap();
        HostileInitiator {
            lie,
            identity: keys.initiator.clone(),
            tracker,
            proposal,
            keys: BTreeMap::new(),
            shares: BTreeMap::new(),
            foreign: BTreeMap::new(),
            group_key: Vec::new(),
            round: 0,
        }
    }
}

impl choreo_guardian_ceremony::Initiator for HostileInitiator {
    type Types = GuardianCeremonyTypes;
    type Error = ServiceError;

    async fn propose_rotation(&mut self, _to: Peer) -> Result<CeremonyProposal, ServiceError> {
        Ok(self.proposal.clone())
    }

    async fn on_ceremony_response(
        &mut self,
        from: Peer,
        msg: CeremonyResponse,
    ) -> Result<(), ServiceError> {
        let key = msg.answer.expect("every guardian accepts");
        self.keys.insert(from.index().unwrap() as u16, key);
        Ok(())
    }

    async fn choose_abort_or_commit(&mut self) -> Result<AbortOrCommit, ServiceError> {
        if self.lie == Lie::ForeignAbort {
            return Ok(AbortOrCommit::Abort);
        }
        let (shares, group_key) = deal(&[0, 1]);
        (self.shares, self.group_key) = (shares, group_key);
        self.foreign = deal(&[0, 1]).0;
        if self.lie != Lie::UnrecordedCommit {
            self.tracker
                .record_commit(&CeremonyId(self.proposal.ceremony_id))
                .await
                .unwrap();
        }
        Ok(AbortOrCommit::Commit)
    }

    async fn abort_ceremony(&mut self, _to: Peer) -> Result<CeremonyAbort, ServiceError> {
        Ok(CeremonyAbort {
            ceremony_id: crypto::digest("another ceremony", &[]),
            reason: "changed my mind".into(),
            signature: unsigned(),
        }
        .sign(&self.identity))
    }

    async fn commit_ceremony(&mut self, _to: Peer) -> Result<CeremonyCommit, ServiceError> {
        let new_epoch = if self.lie == Lie::StaleCommit { 7 } else { 8 };
        Ok(CeremonyCommit {
            ceremony_id: self.proposal.ceremony_id,
            new_epoch,
            accepted_by: vec![0, 1],
            group_key: self.group_key.clone(),
            signature: unsigned(),
        }
        .sign(&self.identity))
    }

    async fn choose_deliver_or_skip(&mut self) -> Result<DeliverOrSkip, ServiceError> {
        self.round += 1;
        Ok(if self.lie == Lie::SkipsAccepted && self.round == 2 {
            DeliverOrSkip::Skip
        } else {
            DeliverOrSkip::Deliver
        })
    }

    async fn key_share_delivery(&mut self, to: Peer) -> Result<EncryptedKeyShare, ServiceError> {
        let g = to.index().unwrap() as u16;
        let id = self.proposal.ceremony_id;
        let key = self.keys[&g];
        Ok(match (g, self.lie) {
            (1, Lie::ForeignShare) => EncryptedKeyShare::seal(id, g, &self.foreign[&g], &key)?,
            (1, Lie::OthersShare) => EncryptedKeyShare::seal(id, g, &self.shares[&0], &key)?,
            (1, Lie::WrongIndex) => {
                let mut sealed = EncryptedKeyShare::seal(id, g, &self.shares[&g], &key)?;
                sealed.share_index = 5;
                sealed
            }
            (1, Lie::MisSealed) => {
                let stranger = crypto::SealKey::generate().public();
                EncryptedKeyShare::seal(id, g, &self.shares[&g], &stranger)?
            }
            _ => EncryptedKeyShare::seal(id, g, &self.shares[&g], &key)?,
        })
    }

    async fn on_share_installed(
        &mut self,
        _from: Peer,
        _msg: msg::ShareInstalled,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn no_share(&mut self, _to: Peer) -> Result<msg::NoShare, ServiceError> {
        Ok(msg::NoShare {
            ceremony_id: self.proposal.ceremony_id,
        })
    }
}

/// Runs `lie` against two honest guardians; returns their runs.
async fn against_hostile_initiator(lie: Lie) -> (Harness, Vec<GuardianRun>, Option<ServiceError>) {
    let mut h = harness(2);
    let keys = Keys::new(2);
    let mut hostile = HostileInitiator::new(lie, &keys, &h).await;
    let mut guardians: Vec<GuardianState> = (0..2).map(|k| keys.guardian(k, false)).collect();
    let mut sessions = h.join();
    let lead = sessions.take(INITIATOR);
    let members = sessions.members("Guardian", 2);
    sessions.done();
    let params = choreo_guardian_ceremony::Params::default();
    let (run, outcomes) = tokio::join!(
        choreo_guardian_ceremony::execute_as(
            choreo_guardian_ceremony::As::Initiator(&mut hostile),
            lead,
            &params,
        ),
        join_all(
            members
                .into_iter()
                .zip(guardians.iter_mut())
                .map(|(s, state)| run_guardian(s, state))
        ),
    );
    // When the refused message is the Initiator's last, it has ended before
    // the refusal: its run is then Ok and the refusal shows on the guardian.
    let hostile_end = match run {
        Ok(_) => None,
        Err(e) => Some(ServiceError::from(e)),
    };
    let runs = outcomes.into_iter().zip(guardians).collect();
    (h, runs, hostile_end)
}

/// Asserts that guardian `k` refused with `check` and recorded no fact from
/// the step it refused on (`forbidden`), and that the session ended for the
/// hostile side as a cancellation by that guardian.
#[track_caller]
fn assert_refused_by(
    h: &Harness,
    runs: &[GuardianRun],
    hostile_end: &Option<ServiceError>,
    k: usize,
    check: Check,
    forbidden: fn(&CeremonyFact) -> bool,
) {
    let (outcome, state) = &runs[k];
    match outcome {
        Err(e) => assert_eq!(e.failed_check(), Some(check), "Guardian[{k}]: {e}"),
        Ok(o) => panic!("Guardian[{k}] accepted the lie: {o:?}"),
    }
    assert_eq!(state.share, None, "Guardian[{k}] installed nothing");
    assert_eq!(state.view.epoch, 7);
    let theirs = ceremony_facts(h, guardian_peer(k));
    assert!(
        !theirs.iter().any(forbidden),
        "Guardian[{k}] recorded {theirs:?}"
    );
    if let Some(end) = hostile_end {
        assert_eq!(end.cancelled_by(), Some(guardian_peer(k)), "{end}");
    }
}

/// The first guardian that refused.
fn refuser(runs: &[GuardianRun]) -> Peer {
    let k = runs
        .iter()
        .position(|(o, _)| o.as_ref().is_err_and(|e| e.failed_check().is_some()))
        .expect("a guardian refused");
    guardian_peer(k)
}

fn installed(f: &CeremonyFact) -> bool {
    matches!(f, CeremonyFact::ShareInstalled { .. })
}

fn any_fact(_: &CeremonyFact) -> bool {
    true
}

fn committed(f: &CeremonyFact) -> bool {
    matches!(
        f,
        CeremonyFact::Committed { .. } | CeremonyFact::ShareInstalled { .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_refuse_a_proposal_the_initiator_did_not_sign() {
    let (h, runs, end) = against_hostile_initiator(Lie::ForgedProposal).await;
    // Both guardians refuse; whichever refused first cancelled the session.
    let first = refuser(&runs);
    let k = first.index().unwrap() as usize;
    assert_refused_by(&h, &runs, &end, k, Check::Signature, any_fact);
    for k in 0..2 {
        assert!(ceremony_facts(&h, guardian_peer(k)).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_refuse_a_commit_to_another_epoch() {
    let (h, runs, end) = against_hostile_initiator(Lie::StaleCommit).await;
    let k = refuser(&runs).index().unwrap() as usize;
    assert_refused_by(&h, &runs, &end, k, Check::Epoch, committed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_refuse_a_commit_missing_from_the_initiators_journal() {
    let (h, runs, end) = against_hostile_initiator(Lie::UnrecordedCommit).await;
    let k = refuser(&runs).index().unwrap() as usize;
    assert_refused_by(&h, &runs, &end, k, Check::Supersession, committed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_refuses_a_share_of_another_key() {
    let (h, runs, end) = against_hostile_initiator(Lie::ForeignShare).await;
    assert_refused_by(&h, &runs, &end, 1, Check::Commitment, installed);
    // Guardian[0]'s round came first and was honest.
    assert_eq!(runs[0].0, Ok(GuardianOutcome::Installed { epoch: 8 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_refuses_another_guardians_share() {
    let (h, runs, end) = against_hostile_initiator(Lie::OthersShare).await;
    assert_refused_by(&h, &runs, &end, 1, Check::Binding, installed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_refuses_a_share_labelled_for_another_index() {
    let (h, runs, end) = against_hostile_initiator(Lie::WrongIndex).await;
    assert_refused_by(&h, &runs, &end, 1, Check::Binding, installed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_that_accepted_refuses_to_be_skipped() {
    let (h, runs, end) = against_hostile_initiator(Lie::SkipsAccepted).await;
    assert_refused_by(&h, &runs, &end, 1, Check::Binding, installed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_refuse_an_abort_of_another_ceremony() {
    let (h, runs, end) = against_hostile_initiator(Lie::ForeignAbort).await;
    let k = refuser(&runs).index().unwrap() as usize;
    let aborted = |f: &CeremonyFact| matches!(f, CeremonyFact::Aborted { .. });
    assert_refused_by(&h, &runs, &end, k, Check::Binding, aborted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_refuses_a_share_sealed_to_another_key() {
    let (h, runs, end) = against_hostile_initiator(Lie::MisSealed).await;
    assert_refused_by(&h, &runs, &end, 1, Check::Decryption, installed);
}

/// What a hostile guardian gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuardianLie {
    /// Signs its response with a key the Initiator does not know.
    Forged,
    /// Replays a response it signed for an earlier ceremony.
    Replayed,
    /// Accepts honestly, then confirms a share it was not sent.
    WrongConfirmation,
}

/// A guardian of the test's own that lies as `lie` says.
struct HostileGuardian {
    lie: GuardianLie,
    identity: SigningKey,
    proposal: Option<CeremonyProposal>,
}

impl choreo_guardian_ceremony::Guardian for HostileGuardian {
    type Types = GuardianCeremonyTypes;
    type Error = ServiceError;

    async fn on_propose_rotation(
        &mut self,
        _from: Peer,
        msg: CeremonyProposal,
    ) -> Result<(), ServiceError> {
        self.proposal = Some(msg);
        Ok(())
    }

    async fn ceremony_response(&mut self, _to: Peer) -> Result<CeremonyResponse, ServiceError> {
        let p = self.proposal.as_ref().expect("a proposal");
        let (ceremony_id, key) = match self.lie {
            GuardianLie::Forged => (p.ceremony_id, SigningKey::generate()),
            // A response it signed for an earlier ceremony, replayed.
            GuardianLie::Replayed => (
                crypto::digest("an earlier ceremony", &[]),
                self.identity.clone(),
            ),
            GuardianLie::WrongConfirmation => (p.ceremony_id, self.identity.clone()),
        };
        Ok(CeremonyResponse {
            ceremony_id,
            answer: Ok(crypto::SealKey::generate().public()),
            signature: unsigned(),
        }
        .sign(&key))
    }

    async fn on_abort_ceremony(&mut self, _: Peer, _: CeremonyAbort) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn on_commit_ceremony(&mut self, _: Peer, _: CeremonyCommit) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn on_key_share_delivery(
        &mut self,
        _: Peer,
        _: EncryptedKeyShare,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn share_installed(&mut self, _to: Peer) -> Result<msg::ShareInstalled, ServiceError> {
        let p = self.proposal.as_ref().expect("a proposal");
        // Guardian[1]'s share index is 2.
        Ok(msg::ShareInstalled {
            ceremony_id: p.ceremony_id,
            share_index: 1,
        })
    }

    async fn on_no_share(&mut self, _: Peer, _: msg::NoShare) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_initiator_refuses_a_forged_or_replayed_response() {
    for (lie, check) in [
        (GuardianLie::Forged, Check::Signature),
        (GuardianLie::Replayed, Check::Binding),
        (GuardianLie::WrongConfirmation, Check::Binding),
    ] {
        let mut h = harness(2);
        let keys = Keys::new(2);
        let mut initiator = keys.initiator(&h, 2);
        let mut honest = keys.guardian(0, false);
        let mut hostile = HostileGuardian {
            lie,
            identity: keys.guardians[1].clone(),
            proposal: None,
        };
        let mut sessions = h.join();
        let lead = sessions.take(INITIATOR);
        let g0: Session<'_, _> = sessions.take(guardian_peer(0));
        let g1 = sessions.take(guardian_peer(1));
        sessions.done();
        let params = choreo_guardian_ceremony::Params::default();
        let (outcome, o0, o1) = tokio::join!(
            run_initiator(lead, &mut initiator),
            run_guardian(g0, &mut honest),
            choreo_guardian_ceremony::execute_as(
                choreo_guardian_ceremony::As::Guardian(&mut hostile),
                g1,
                &params,
            ),
        );
        let e = outcome.expect_err("the Initiator refuses");
        assert_eq!(e.failed_check(), Some(check), "{e}");
        if lie != GuardianLie::WrongConfirmation {
            // Otherwise Guardian[0]'s round and the hostile guardian's last
            // send were over before the refusal.
            assert_cancelled(&o0, INITIATOR, "Guardian[1]");
            assert_eq!(
                ServiceError::from(o1.expect_err("cancelled")).cancelled_by(),
                Some(INITIATOR)
            );
        }
        let mine = ceremony_facts(&h, INITIATOR);
        // Nothing of the refused step was recorded.
        if lie == GuardianLie::WrongConfirmation {
            assert!(!mine.contains(&CeremonyFact::ShareInstalled {
                guardian: 1,
                new_epoch: 8
            }));
        } else {
            assert!(!mine.contains(&CeremonyFact::Responded {
                guardian: 1,
                accepted: true
            }));
            assert!(!mine
                .iter()
                .any(|f| matches!(f, CeremonyFact::Committed { .. })));
        }
        assert_eq!(initiator.account.epoch, 7);
        if lie != GuardianLie::WrongConfirmation {
            assert_eq!(honest.share, None);
        }
    }
}
