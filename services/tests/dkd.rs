//! DkdChoreography through the derivation service: 2 and 5 participants,
//! keys that depend only on the root, context and path (not on which
//! threshold of participants contributed), and participants whose policy
//! withholds their share on both sides of the threshold (below it, the
//! Initiator cancels the derivation for everyone at once). The hostile
//! peers are in `dkd/hostile.rs`.

mod common;
#[path = "dkd/hostile.rs"]
mod hostile;

use choreo_runtime::Peer;
use choreo_services::authentication::dkd::{
    run_initiator, run_participant, DkdFact, DkdOutcome, InitiatorState, ParticipantOutcome,
    ParticipantState,
};
use choreo_services::crypto::tprf::{self, frost};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::{crypto, ServiceError};
use common::{assert_cancelled, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const CAPS: &[(&str, &[&str])] = &[
    ("Initiator", &["dkd:initiate"]),
    ("Participant", &["dkd:contribute"]),
];
const INITIATOR: Peer = Peer::role("Initiator");

/// A derivation root of `n` shares, `t` of them needed, dealt to members
/// `0..n`.
pub fn root(n: u16, t: u16) -> (tprf::Public, Vec<tprf::Share>) {
    let ids: Vec<frost::Identifier> = (0..n).map(|k| crypto::identifier(k).unwrap()).collect();
    let (shares, public) = frost::keys::generate_with_dealer(
        n,
        t,
        frost::keys::IdentifierList::Custom(&ids),
        crypto::rng(),
    )
    .expect("dealt");
    let shares = ids
        .iter()
        .map(|id| tprf::Share::try_from(shares[id].clone()).expect("a key package"))
        .collect();
    (public, shares)
}

fn participant(k: u32, share: &tprf::Share, allowed: &[&str]) -> ParticipantState {
    ParticipantState {
        root_share: share.clone(),
        salt_seed: crypto::SecretKey::derive("salt seed", &[&k.to_le_bytes()]),
        allowed_contexts: allowed.iter().map(|c| c.to_string()).collect(),
        epoch: 2,
        keys: Vec::new(),
    }
}

/// The DkdChoreography facts `peer`'s node recorded.
pub fn dkd_facts(h: &Harness, peer: Peer) -> Vec<DkdFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

/// The participants holding `shares`, those in `withholding` releasing
/// nothing for `storage/`.
pub fn participants(shares: &[tprf::Share], withholding: &[u32]) -> Vec<ParticipantState> {
    (0..shares.len() as u32)
        .map(|k| {
            participant(
                k,
                &shares[k as usize],
                if withholding.contains(&k) {
                    &["messaging/"]
                } else {
                    &["storage/", "messaging/"]
                },
            )
        })
        .collect()
}

type Participants = Vec<(Result<ParticipantOutcome, ServiceError>, ParticipantState)>;

/// One derivation for `context`, all roles at once.
async fn try_derive(
    root: &tprf::Public,
    mut states: Vec<ParticipantState>,
    context: &str,
) -> (
    Result<DkdOutcome, ServiceError>,
    InitiatorState,
    Participants,
    Harness,
) {
    let n = states.len() as u32;
    let mut h = Harness::new(
        &choreo_dkd_choreography::PROTOCOL,
        &[("Participant", n)],
        CAPS,
    );
    let mut state = InitiatorState {
        root: root.clone(),
        epoch: 2,
        keys: Vec::new(),
    };
    let mut sessions = h.join();
    let lead = sessions.take(INITIATOR);
    let members = sessions.members("Participant", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_initiator(lead, &mut state, context, vec![0, 7]),
        join_all(
            members
                .into_iter()
                .zip(states.iter_mut())
                .map(|(s, p)| run_participant(s, p))
        ),
    );
    (
        outcome,
        state,
        outcomes.into_iter().zip(states).collect(),
        h,
    )
}

/// A derivation every role completes.
async fn derive(
    root: &tprf::Public,
    states: Vec<ParticipantState>,
    context: &str,
) -> (
    DkdOutcome,
    InitiatorState,
    Vec<(ParticipantOutcome, ParticipantState)>,
    Harness,
) {
    let n = states.len();
    let (outcome, state, results, h) = try_derive(root, states, context).await;
    assert_eq!(
        h.node(INITIATOR)
            .journal()
            .count("DkdFact::KeyDerived")
            .unwrap(),
        n as u64
    );
    let results = results
        .into_iter()
        .map(|(o, s)| (o.expect("every participant runs"), s))
        .collect();
    (outcome.expect("the initiator runs"), state, results, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_participant_contributes_and_confirms_the_key() {
    for n in [2u16, 5] {
        let (public, shares) = root(n, n);
        let (outcome, state, results, h) =
            derive(&public, participants(&shares, &[]), "storage/photos").await;
        let everyone: Vec<u16> = (0..n).collect();
        let DkdOutcome {
            key,
            secret,
            confirmed,
        } = outcome;
        assert_eq!(
            secret.verifying_key(),
            key.public_key,
            "the Initiator holds the key"
        );
        let signed = secret.sign("test", &[b"a photo"]);
        assert!(key
            .public_key
            .verify("test", &[b"a photo"], &signed)
            .is_ok());
        assert_eq!(
            (key.context.as_str(), key.path.as_slice()),
            ("storage/photos", &[0, 7][..])
        );
        assert_eq!(key.contributors, everyone);
        assert_eq!(
            confirmed, everyone,
            "every participant acknowledged the key"
        );
        assert_eq!(state.keys, vec![key.clone()]);
        let derived = vec![DkdFact::KeyDerived(key.clone())];
        assert_eq!(dkd_facts(&h, INITIATOR), derived);
        for (k, (outcome, state)) in results.iter().enumerate() {
            assert_eq!(
                outcome,
                &ParticipantOutcome {
                    released: Ok(()),
                    public_key: key.public_key
                }
            );
            assert_eq!(state.keys, vec![key.clone()], "Participant[{k}]");
            let theirs = dkd_facts(&h, Peer::member("Participant", k as u32));
            assert_eq!(theirs, derived, "Participant[{k}]");
        }
        // The same root, context and path derive the same key; another
        // context, or another root, another.
        let states = participants(&shares, &[]);
        let (again, _, _, _) = derive(&public, states, "storage/photos").await;
        assert_eq!(again.key.public_key, key.public_key);
        let (other, _, _, _) = derive(&public, participants(&shares, &[]), "storage/docs").await;
        assert_ne!(other.key.public_key, key.public_key);
        let (public, shares) = root(n, n);
        let (another, _, _, _) =
            derive(&public, participants(&shares, &[]), "storage/photos").await;
        assert_ne!(another.key.public_key, key.public_key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_share_is_reported_and_counts_against_the_threshold() {
    let why = Err("context `storage/photos` is not released by policy".to_string());
    // Threshold 4 of 5: still derived, from the four released shares.
    let (public, shares) = root(5, 4);
    let (outcome, state, results, h) =
        derive(&public, participants(&shares, &[2]), "storage/photos").await;
    let DkdOutcome { key, confirmed, .. } = outcome;
    assert_eq!(key.contributors, vec![0, 1, 3, 4]);
    // Any threshold of the shares derives the same key.
    let (all, _, _, _) = derive(&public, participants(&shares, &[]), "storage/photos").await;
    assert_eq!(all.key.contributors, vec![0, 1, 2, 3, 4]);
    assert_eq!(all.key.public_key, key.public_key);
    let (others, _, _, _) = derive(&public, participants(&shares, &[0]), "storage/photos").await;
    assert_eq!(others.key.public_key, key.public_key);
    assert_eq!(confirmed, vec![0, 1, 2, 3, 4]);
    assert_eq!(results[2].0.released, why);
    assert!(
        results[2].1.keys.is_empty(),
        "a withholding participant records no key"
    );
    assert_eq!(results[0].1.keys, vec![key.clone()]);
    assert_eq!(state.keys, vec![key.clone()]);
    let withheld = DkdFact::ShareWithheld(2, why.clone().unwrap_err());
    assert_eq!(
        dkd_facts(&h, INITIATOR),
        vec![withheld.clone(), DkdFact::KeyDerived(key)],
        "the initiator records the reason"
    );
    let theirs = dkd_facts(&h, Peer::member("Participant", 2));
    assert_eq!(theirs, vec![withheld], "and so does the participant");
}

#[tokio::test(start_paused = true)]
async fn too_few_released_shares_cancel_the_derivation_everywhere() {
    // Threshold 5 of 5, and 2 of 2: no key anywhere.
    for (threshold, n, withholding) in [(5, 5, 2), (2, 2, 0)] {
        let started = Instant::now();
        let (public, shares) = root(n, threshold);
        let states = participants(&shares, &[withholding]);
        let (outcome, state, results, h) = try_derive(&public, states, "storage/photos").await;
        let why = format!("{} valid shares, {threshold} needed", threshold - 1);
        let e = outcome.expect_err("too few shares");
        assert_eq!(e.failed_check(), Some(Check::Threshold), "{e}");
        assert!(state.keys.is_empty());
        let mine = dkd_facts(&h, INITIATOR);
        assert!(
            matches!(mine.last(), Some(DkdFact::Failed(r)) if r.contains(&why)),
            "{mine:?}"
        );
        assert!(!mine.iter().any(|f| matches!(f, DkdFact::KeyDerived(_))));
        assert_eq!(
            h.node(INITIATOR)
                .journal()
                .count("DkdFact::KeyDerived")
                .unwrap(),
            0
        );
        for (k, (outcome, state)) in results.iter().enumerate() {
            assert_cancelled(outcome, INITIATOR, &why);
            assert!(state.keys.is_empty(), "Participant[{k}]");
        }
        assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
    }
}
