//! AuraConsensus through the consensus service: witnesses sign (FROST) what
//! matches their view and decline otherwise; the Coordinator commits iff its
//! threshold of witnesses signed and every share verified, and cancels the
//! instance otherwise. Hostile witnesses and coordinators (role impls of the
//! test's own) are refused with a typed error, and nothing of the refused
//! step is recorded.

mod common;

use std::collections::BTreeMap;

use choreo_aura_consensus::choice::DeclineOrSign;
use choreo_aura_consensus::msg;
use choreo_runtime::Peer;
use choreo_services::consensus::aura_consensus::{
    run_coordinator, run_witness, signing_message, ConsensusFact, ConsensusOutcome,
    ConsensusParams, ConsensusResultMsg, ConsensusTypes, CoordinatorState, ExecuteMsg,
    NonceCommitMsg, Operation, SignRequestMsg, SignShareMsg, WitnessOutcome, WitnessState,
    WitnessView,
};
use choreo_services::crypto::{self, frost, Digest};
use choreo_services::error::Check;
use choreo_services::journal::facts;
use choreo_services::ServiceError;
use common::{assert_cancelled, Harness, TIMEOUT};
use futures_util::future::join_all;
use tokio::time::Instant;

const COORDINATOR: Peer = Peer::role("Coordinator");

const COORDINATOR_CAPS: &[&str] = &[
    "consensus:initiate",
    "consensus:aggregate",
    "consensus:finalize",
];
const WITNESS_CAPS: &[&str] = &["consensus:witness", "consensus:sign"];
const CAPS: &[(&str, &[&str])] = &[("Coordinator", COORDINATOR_CAPS), ("Witness", WITNESS_CAPS)];

fn prestate() -> Digest {
    crypto::digest("tree", &[b"epoch 3"])
}

fn operation() -> Operation {
    Operation {
        kind: "tree.add_device".into(),
        payload: b"device-7".to_vec(),
    }
}

/// The view every witness had before the latest commit.
fn old_view() -> Digest {
    crypto::digest("tree", &[b"epoch 2"])
}

fn witness(k: u32) -> Peer {
    Peer::member("Witness", k)
}

/// FROST keys for `n` witnesses, `threshold` of them signing.
fn keys(n: u32, threshold: u16) -> (Vec<frost::keys::KeyPackage>, frost::keys::PublicKeyPackage) {
    let (shares, public) = frost::keys::generate_with_dealer(
        n as u16,
        threshold,
        frost::keys::IdentifierList::Default,
        crypto::rng(),
    )
    .expect("valid parameters");
    let packages = shares
        .into_values()
        .map(|s| frost::keys::KeyPackage::try_from(s).expect("a valid share"))
        .collect();
    (packages, public)
}

fn witnesses(packages: &[frost::keys::KeyPackage], stale: usize) -> Vec<WitnessState> {
    let n = packages.len();
    packages
        .iter()
        .enumerate()
        .map(|(k, key_package)| WitnessState {
            key_package: key_package.clone(),
            view: WitnessView {
                prestate_hash: if k >= n - stale {
                    old_view()
                } else {
                    prestate()
                },
                epoch: 3,
            },
        })
        .collect()
}

fn coordinator(public_keys: frost::keys::PublicKeyPackage, threshold: u16) -> CoordinatorState {
    CoordinatorState {
        params: ConsensusParams {
            threshold,
            epoch: 3,
            public_keys,
        },
        prestate_hash: prestate(),
    }
}

fn consensus_facts(h: &Harness, peer: Peer) -> Vec<ConsensusFact> {
    facts(h.node(peer).journal()).expect("facts decode")
}

struct Run {
    coordinator: (Result<ConsensusOutcome, ServiceError>, CoordinatorState),
    witnesses: Vec<(Result<WitnessOutcome, ServiceError>, WitnessState)>,
    harness: Harness,
    group_key: frost::VerifyingKey,
}

/// One instance with `n` witnesses, the last `stale` of which have not seen
/// the latest state.
async fn run(n: u32, threshold: u16, stale: u32) -> Run {
    let mut h = Harness::new(&choreo_aura_consensus::PROTOCOL, &[("Witness", n)], CAPS);
    let (packages, public) = keys(n, threshold);
    let group_key = *public.verifying_key();
    let mut witnesses = witnesses(&packages, stale as usize);
    let mut state = coordinator(public, threshold);
    let mut sessions = h.join();
    let lead = sessions.take(COORDINATOR);
    let members = sessions.members("Witness", n);
    sessions.done();
    let (outcome, outcomes) = tokio::join!(
        run_coordinator(lead, &mut state, operation()),
        join_all(
            members
                .into_iter()
                .zip(witnesses.iter_mut())
                .map(|(s, w)| run_witness(s, w))
        ),
    );
    Run {
        coordinator: (outcome, state),
        witnesses: outcomes.into_iter().zip(witnesses).collect(),
        harness: h,
        group_key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_of_matching_views_commits_the_operation() {
    for (n, threshold, stale) in [(2, 2, 0), (5, 5, 0), (5, 3, 2)] {
        let run = run(n, threshold, stale).await;
        let (outcome, state) = run.coordinator;
        let signers: Vec<u16> = (0..(n - stale) as u16).collect();
        let Ok(ConsensusOutcome {
            poststate,
            signers: got,
            signature,
        }) = outcome
        else {
            panic!("{n} witnesses, {stale} stale: {outcome:?}");
        };
        assert_eq!(got, signers);
        assert_ne!(poststate, prestate());
        assert_eq!(state.prestate_hash, poststate, "the coordinator advances");
        let mine = consensus_facts(&run.harness, COORDINATOR);
        let ConsensusFact::Proposed(id) = mine[0] else {
            panic!("{mine:?}")
        };
        assert!(mine.contains(&ConsensusFact::Committed(id, signers.clone())));
        // The signature is a plain Ed25519 signature under the group key.
        let execute = ExecuteMsg {
            consensus_id: id,
            prestate_hash: prestate(),
            operation: operation(),
            epoch: 3,
        };
        assert_eq!(
            run.group_key.verify(&signing_message(&execute), &signature),
            Ok(())
        );
        // Each signing witness's SignShare records a fact that its ResultAck
        // merges back; a declining witness records none.
        let journal = run.harness.node(COORDINATOR).journal();
        assert_eq!(
            journal.count("ConsensusFact::ShareSigned").unwrap(),
            signers.len() as u64,
            "{n} witnesses, {stale} stale"
        );
        for (k, (outcome, state)) in run.witnesses.iter().enumerate() {
            let fresh = (k as u32) < n - stale;
            let expected = WitnessOutcome {
                signed: fresh,
                applied: fresh,
            };
            assert_eq!(outcome, &Ok(expected), "Witness[{k}]");
            let view = if fresh { poststate } else { old_view() };
            assert_eq!(state.view.prestate_hash, view, "Witness[{k}] view");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn too_few_willing_witnesses_cancel_the_instance_and_nothing_is_applied() {
    for (n, threshold, stale) in [(2, 2, 1), (5, 4, 2)] {
        let started = Instant::now();
        let run = run(n, threshold, stale).await;
        let (outcome, state) = &run.coordinator;
        let why = format!("{} witnesses will sign, {threshold} needed", n - stale);
        let Err(e) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(e.failed_check(), Some(Check::Threshold), "{e}");
        assert!(e.to_string().contains(&why), "{e}");
        assert_eq!(
            state.prestate_hash,
            prestate(),
            "the coordinator keeps its prestate"
        );
        let mine = consensus_facts(&run.harness, COORDINATOR);
        assert!(matches!(mine.last(), Some(ConsensusFact::Failed(_, r)) if r.contains(&why)));
        assert!(!mine
            .iter()
            .any(|f| matches!(f, ConsensusFact::Committed(..))));
        for (k, (outcome, _)) in run.witnesses.iter().enumerate() {
            assert_cancelled(outcome, COORDINATOR, &why);
            assert!(
                consensus_facts(&run.harness, witness(k as u32)).is_empty(),
                "Witness[{k}] recorded nothing"
            );
        }
        assert!(started.elapsed() < TIMEOUT, "a timeout elapsed");
    }
}

/// What a hostile witness sends instead of its share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BadShare {
    /// A share made with another signing key.
    Forged,
    /// A valid share of an earlier instance, replayed.
    Replayed,
    /// Its valid share, labelled with another instance's id.
    OtherInstance,
}

/// A witness of the test's own that signs honestly but sends a bad share.
struct HostileWitness {
    bad: BadShare,
    key_package: frost::keys::KeyPackage,
    impostor: frost::keys::KeyPackage,
    execute: Option<ExecuteMsg>,
    nonces: Option<frost::round1::SigningNonces>,
    package: Option<frost::SigningPackage>,
}

impl choreo_aura_consensus::Witness for HostileWitness {
    type Types = ConsensusTypes;
    type Error = ServiceError;

    async fn on_execute(&mut self, _: Peer, msg: ExecuteMsg) -> Result<(), ServiceError> {
        self.execute = Some(msg);
        Ok(())
    }

    async fn nonce_commit(&mut self, _: Peer) -> Result<NonceCommitMsg, ServiceError> {
        let (nonces, commitments) =
            frost::round1::commit(self.key_package.signing_share(), &mut crypto::rng());
        self.nonces = Some(nonces);
        Ok(NonceCommitMsg {
            consensus_id: self.execute.as_ref().unwrap().consensus_id,
            commitments: Some(commitments.serialize().unwrap()),
        })
    }

    async fn on_sign_request(&mut self, _: Peer, msg: SignRequestMsg) -> Result<(), ServiceError> {
        self.package = Some(frost::SigningPackage::deserialize(&msg.signing_package).unwrap());
        Ok(())
    }

    async fn choose_decline_or_sign(&mut self) -> Result<DeclineOrSign, ServiceError> {
        Ok(DeclineOrSign::Sign)
    }

    async fn sign_share(&mut self, _: Peer) -> Result<SignShareMsg, ServiceError> {
        let package = self.package.as_ref().unwrap();
        let nonces = self.nonces.take().unwrap();
        let mut consensus_id = self.execute.as_ref().unwrap().consensus_id;
        let share = match self.bad {
            BadShare::OtherInstance => {
                consensus_id = crypto::digest("another instance", &[]);
                frost::round2::sign(package, &nonces, &self.key_package).unwrap()
            }
            BadShare::Forged => {
                // The impostor's package claims this witness's identifier.
                frost::round2::sign(package, &nonces, &self.impostor).unwrap()
            }
            BadShare::Replayed => {
                // Its share over the same message in an earlier signing set.
                let (old_nonces, old) =
                    frost::round1::commit(self.key_package.signing_share(), &mut crypto::rng());
                let mut commitments = package.signing_commitments().clone();
                commitments.insert(*self.key_package.identifier(), old);
                let earlier = frost::SigningPackage::new(commitments, package.message());
                frost::round2::sign(&earlier, &old_nonces, &self.key_package).unwrap()
            }
        };
        Ok(SignShareMsg {
            consensus_id,
            share: share.serialize(),
        })
    }

    async fn sign_decline(&mut self, _: Peer) -> Result<msg::SignDecline, ServiceError> {
        unreachable!("the hostile witness signs")
    }

    async fn on_consensus_result(
        &mut self,
        _: Peer,
        _: ConsensusResultMsg,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn result_ack(&mut self, _: Peer) -> Result<msg::ResultAck, ServiceError> {
        Err(ServiceError::Missing("nothing"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_refuses_a_forged_replayed_or_misdirected_share() {
    for (bad, check, why) in [
        (BadShare::Forged, Check::Signature, "Witness[2]'s share"),
        (BadShare::Replayed, Check::Signature, "Witness[2]'s share"),
        (
            BadShare::OtherInstance,
            Check::Binding,
            "Witness[2] answered another instance",
        ),
    ] {
        let mut h = Harness::new(&choreo_aura_consensus::PROTOCOL, &[("Witness", 3)], CAPS);
        let (packages, public) = keys(3, 2);
        let mut honest = witnesses(&packages[..2], 0);
        let impostor = {
            let (mut other, _) = keys(3, 2);
            other.remove(2)
        };
        let mut hostile = HostileWitness {
            bad,
            key_package: packages[2].clone(),
            impostor,
            execute: None,
            nonces: None,
            package: None,
        };
        let mut state = coordinator(public, 2);
        let params = choreo_aura_consensus::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(COORDINATOR);
        let mut members = sessions.members("Witness", 3);
        sessions.done();
        let third = members.pop().unwrap();
        let (outcome, outcomes, hostile_end) = tokio::join!(
            run_coordinator(lead, &mut state, operation()),
            join_all(
                members
                    .into_iter()
                    .zip(honest.iter_mut())
                    .map(|(s, w)| run_witness(s, w))
            ),
            choreo_aura_consensus::execute_as(
                choreo_aura_consensus::As::Witness(&mut hostile),
                third,
                &params
            ),
        );
        let e = outcome.expect_err("the share is refused");
        assert_eq!(e.failed_check(), Some(check), "{bad:?}: {e}");
        assert!(e.to_string().contains(why), "{e}");
        let end = ServiceError::from(hostile_end.expect_err("cancelled"));
        assert_eq!(end.cancelled_by(), Some(COORDINATOR));
        for o in &outcomes {
            assert_cancelled(o, COORDINATOR, why);
        }
        assert_eq!(state.prestate_hash, prestate());
        let mine = consensus_facts(&h, COORDINATOR);
        assert!(!mine
            .iter()
            .any(|f| matches!(f, ConsensusFact::Signed(_, 2, _))));
        assert!(!mine
            .iter()
            .any(|f| matches!(f, ConsensusFact::Committed(..))));
        for k in 0..2 {
            assert!(!consensus_facts(&h, witness(k))
                .iter()
                .any(|f| matches!(f, ConsensusFact::Applied(..))));
        }
    }
}

/// What a hostile Coordinator gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// Asks the witnesses to sign another message than the proposal's.
    OtherMessage,
    /// Replaces Witness[0]'s nonce commitment with one of its own making.
    SwappedCommitment,
    /// Publishes a signature made with a key of its own.
    ForgedResult,
}

/// A Coordinator of the test's own: honest but for one `lie`.
struct HostileCoordinator {
    lie: Lie,
    execute: ExecuteMsg,
    commitments: BTreeMap<frost::Identifier, frost::round1::SigningCommitments>,
    decoy: frost::keys::KeyPackage,
}

impl choreo_aura_consensus::Coordinator for HostileCoordinator {
    type Types = ConsensusTypes;
    type Error = ServiceError;

    async fn execute(&mut self, _: Peer) -> Result<ExecuteMsg, ServiceError> {
        Ok(self.execute.clone())
    }

    async fn on_nonce_commit(
        &mut self,
        from: Peer,
        msg: NonceCommitMsg,
    ) -> Result<(), ServiceError> {
        let c = frost::round1::SigningCommitments::deserialize(&msg.commitments.unwrap()).unwrap();
        let id = crypto::identifier(from.index().unwrap() as u16).unwrap();
        self.commitments.insert(id, c);
        Ok(())
    }

    async fn sign_request(&mut self, _: Peer) -> Result<SignRequestMsg, ServiceError> {
        let mut commitments = self.commitments.clone();
        let mut message = signing_message(&self.execute).to_vec();
        match self.lie {
            Lie::OtherMessage => message = b"transfer everything".to_vec(),
            Lie::SwappedCommitment => {
                let (_, mine) =
                    frost::round1::commit(self.decoy.signing_share(), &mut crypto::rng());
                commitments.insert(crypto::identifier(0).unwrap(), mine);
            }
            Lie::ForgedResult => {}
        }
        Ok(SignRequestMsg {
            consensus_id: self.execute.consensus_id,
            signing_package: frost::SigningPackage::new(commitments, &message)
                .serialize()
                .unwrap(),
        })
    }

    async fn on_sign_share(&mut self, _: Peer, _: SignShareMsg) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn on_sign_decline(&mut self, _: Peer, _: msg::SignDecline) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn consensus_result(&mut self, _: Peer) -> Result<ConsensusResultMsg, ServiceError> {
        let forger = frost::SigningKey::new(&mut crypto::rng());
        let signature = forger.sign(crypto::rng(), &signing_message(&self.execute));
        Ok(ConsensusResultMsg {
            consensus_id: self.execute.consensus_id,
            signature: signature.serialize().unwrap(),
            signers: vec![0, 1],
            poststate: crypto::digest("a poststate", &[]),
        })
    }

    async fn on_result_ack(&mut self, _: Peer, _: msg::ResultAck) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnesses_refuse_a_hostile_coordinators_package_or_result() {
    for (lie, check) in [
        (Lie::OtherMessage, Check::Transcript),
        (Lie::SwappedCommitment, Check::Nonce),
        (Lie::ForgedResult, Check::Signature),
    ] {
        let mut h = Harness::new(&choreo_aura_consensus::PROTOCOL, &[("Witness", 2)], CAPS);
        let (packages, _) = keys(2, 2);
        let mut honest = witnesses(&packages, 0);
        let mut hostile = HostileCoordinator {
            lie,
            execute: ExecuteMsg {
                consensus_id: crypto::digest("instance", &[]),
                prestate_hash: prestate(),
                operation: operation(),
                epoch: 3,
            },
            commitments: BTreeMap::new(),
            decoy: keys(2, 2).0.remove(0),
        };
        let params = choreo_aura_consensus::Params::default();
        let mut sessions = h.join();
        let lead = sessions.take(COORDINATOR);
        let members = sessions.members("Witness", 2);
        sessions.done();
        let (end, outcomes) = tokio::join!(
            choreo_aura_consensus::execute_as(
                choreo_aura_consensus::As::Coordinator(&mut hostile),
                lead,
                &params
            ),
            join_all(
                members
                    .into_iter()
                    .zip(honest.iter_mut())
                    .map(|(s, w)| run_witness(s, w))
            ),
        );
        let end = ServiceError::from(end.expect_err("the hostile coordinator is stopped"));
        let refuser = end.cancelled_by().expect("a witness cancelled");
        let k = refuser.index().unwrap() as usize;
        let e = outcomes[k].as_ref().expect_err("refused");
        assert_eq!(e.failed_check(), Some(check), "{lie:?}: {e}");
        for (k, state) in honest.iter().enumerate() {
            assert_eq!(
                state.view.prestate_hash,
                prestate(),
                "Witness[{k}] applied nothing"
            );
            let theirs = consensus_facts(&h, witness(k as u32));
            assert!(!theirs
                .iter()
                .any(|f| matches!(f, ConsensusFact::Applied(..))));
            let refused_unsigned = match lie {
                Lie::OtherMessage => true,
                Lie::SwappedCommitment => refuser == witness(k as u32),
                Lie::ForgedResult => false,
            };
            if refused_unsigned {
                // Refused before signing: no share was recorded.
                assert!(
                    theirs.is_empty(),
                    "{lie:?}: Witness[{k}] recorded {theirs:?}"
                );
            }
        }
    }
}
