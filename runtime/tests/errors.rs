//! Runtime errors reach the role's code as typed errors, and no role panics:
//! every role runs in its own task and each task must finish normally.

mod common;

use choreo_runtime::{
    Choice, ChoreographicEffects, EffectError, Error, ErrorKind, InMemoryNetwork, Offer, Peer,
    RoleContext, SendGuard,
};
use common::{ceremony, guardian, initiator, role, Role, TIMEOUT};
use tokio::task::JoinHandle;

/// An initiator and one guardian on a fresh network.
fn pair() -> (Role, Role) {
    let (net, roster) = (InMemoryNetwork::new(), ceremony(1));
    let init = role(&net, &roster, initiator(), RoleContext::new());
    let g = role(&net, &roster, guardian(0), RoleContext::new());
    (init, g)
}

/// Awaits a role's task; a panic inside it fails the test here.
async fn finished<T>(task: JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(err) => panic!("a role panicked: {err}"),
    }
}

/// The guardian sends `payload` labelled `Commit` from its own task; returns
/// the initiator (to receive it) and the guardian.
async fn sent<M: serde::Serialize + Send + Sync + 'static>(payload: M) -> (Role, Role) {
    let (init, mut g) = pair();
    let sender = tokio::spawn(async move {
        g.send(&initiator(), "Commit", &SendGuard::NONE, &payload)
            .await
            .unwrap();
        g
    });
    (init, finished(sender).await)
}

/// The initiator receives one `M` labelled `label` from the guardian in its own task.
async fn received<M>(mut init: Role, label: &'static str) -> Result<M, Error>
where
    M: serde::de::DeserializeOwned + Send + 'static,
{
    finished(tokio::spawn(async move {
        init.recv::<M>(&guardian(0), label).await
    }))
    .await
}

#[tokio::test(start_paused = true)]
async fn silent_peer_is_a_timeout_error() {
    let (mut init, g) = pair();
    let receiver = tokio::spawn(async move {
        let result = init.recv::<u8>(&guardian(0), "Commit").await;
        (result, init.effects().metrics().unwrap().timeouts)
    });
    let (result, timeouts) = finished(receiver).await;
    let err = result.unwrap_err();
    let timeout = EffectError::Timeout {
        peer: guardian(0),
        after: TIMEOUT,
    };
    assert_eq!(*err.kind(), ErrorKind::Receive(timeout));
    assert_eq!(err.to_string(), "protocol `TestProtocol`, role Initiator, peer Guardian[0]: receive failed: no message from Guardian[0] within 3s");
    assert_eq!(timeouts, 1);
    drop(g);
}

#[tokio::test(start_paused = true)]
async fn departed_peer_is_a_peer_gone_error_both_ways() {
    let (mut init, g) = pair();
    let leaver = tokio::spawn(async move { drop(g) });
    finished(leaver).await;
    let receiver = tokio::spawn(async move {
        let received = init.recv::<u8>(&guardian(0), "Commit").await;
        let sent = init.send(&guardian(0), "Ack", &SendGuard::NONE, &()).await;
        (received, sent)
    });
    let (received, sent) = finished(receiver).await;
    let gone = EffectError::PeerGone { peer: guardian(0) };
    assert_eq!(
        *received.unwrap_err().kind(),
        ErrorKind::Receive(gone.clone())
    );
    assert_eq!(*sent.unwrap_err().kind(), ErrorKind::Send(gone));
}

#[tokio::test(start_paused = true)]
async fn wrong_label_names_protocol_role_peer_and_expected_label() {
    let (init, _g) = sent(1u8).await;
    let err = received::<u8>(init, "Abort").await.unwrap_err();
    let kind = ErrorKind::WrongLabel {
        expected: vec!["Abort"],
        received: "Commit".into(),
    };
    assert_eq!(*err.kind(), kind);
    assert_eq!(
        (err.protocol(), err.role(), err.peer()),
        ("TestProtocol", &initiator(), Some(&guardian(0)))
    );
    assert_eq!(
        err.to_string(),
        "protocol `TestProtocol`, role Initiator, peer Guardian[0]: expected `Abort`, received `Commit`"
    );
}

#[tokio::test(start_paused = true)]
async fn undecodable_payload_is_a_decode_error() {
    // 7 is no valid bool.
    let (init, _g) = sent(7u8).await;
    let err = received::<bool>(init, "Commit").await.unwrap_err();
    match err.kind() {
        ErrorKind::Decode {
            expected, received, ..
        } => {
            assert_eq!(
                (expected.as_slice(), received.as_deref()),
                (&["Commit"][..], Some("Commit"))
            );
        }
        other => panic!("expected a decode error, got {other}"),
    }
    assert_eq!(err.peer(), Some(&guardian(0)));
    // Left-over bytes are an error too: a u32 does not decode as one u8.
    let (init, _g) = sent(70_000u32).await;
    let err = received::<u8>(init, "Commit").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn garbage_frame_is_a_decode_error_without_label() {
    let (init, g) = pair();
    let sender = tokio::spawn(async move {
        g.effects()
            .send_to_role_bytes(&initiator(), vec![0xff; 4])
            .await
            .unwrap();
        g
    });
    let _g = finished(sender).await;
    let err = received::<u8>(init, "Commit").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Decode { received: None, .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn operations_outside_a_session_or_roster_are_errors() {
    let (mut init, _g) = pair();
    let err = init
        .send(&guardian(1), "Commit", &SendGuard::NONE, &())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.peer()),
        (&ErrorKind::UnknownPeer, Some(&guardian(1)))
    );
    assert!(matches!(
        init.members("Witness").unwrap_err().kind(),
        ErrorKind::UnknownFamily(_)
    ));
    assert!(matches!(
        init.start().unwrap_err().kind(),
        ErrorKind::Session(EffectError::SessionActive(_))
    ));
    init.finish().unwrap();
    let err = init
        .send(&guardian(0), "Commit", &SendGuard::NONE, &())
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Session(EffectError::NoSession));
    let err = init.recv::<()>(&guardian(0), "Commit").await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Session(EffectError::NoSession));
    assert!(matches!(
        init.finish().unwrap_err().kind(),
        ErrorKind::Session(EffectError::NoSession)
    ));
}

/// The branches of `case choose Initiator of Abort -> ... Commit -> ...`.
#[derive(Debug, PartialEq)]
enum Decision {
    Abort,
    Commit(u32),
}

impl Choice for Decision {
    const LABELS: &'static [&'static str] = &["Abort", "Commit"];

    fn from_offer(offer: Offer) -> Result<Self, Error> {
        match offer.label() {
            "Abort" => Ok(Decision::Abort),
            "Commit" => Ok(Decision::Commit(offer.decode()?)),
            _ => Err(offer.unexpected()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn external_choice_tells_which_label_arrived() {
    let (mut init, mut g) = pair();
    init.send(&guardian(0), "Commit", &SendGuard::NONE, &42u32)
        .await
        .unwrap();
    init.send(&guardian(0), "Abort", &SendGuard::NONE, &())
        .await
        .unwrap();
    init.send(&guardian(0), "Commit", &SendGuard::NONE, &9u32)
        .await
        .unwrap();
    init.send(&guardian(0), "Propose", &SendGuard::NONE, &())
        .await
        .unwrap();
    assert_eq!(
        g.recv_branch::<Decision>(&initiator()).await.unwrap(),
        Decision::Commit(42)
    );
    assert_eq!(
        g.recv_branch::<Decision>(&initiator()).await.unwrap(),
        Decision::Abort
    );
    let offer = g.recv_choice(&initiator(), Decision::LABELS).await.unwrap();
    assert_eq!(
        (offer.label(), offer.from(), offer.payload()),
        ("Commit", &initiator(), &[9u8][..])
    );
    let err = g.recv_branch::<Decision>(&initiator()).await.unwrap_err();
    let kind = ErrorKind::WrongLabel {
        expected: vec!["Abort", "Commit"],
        received: "Propose".into(),
    };
    assert_eq!(*err.kind(), kind);
}

#[tokio::test(start_paused = true)]
async fn family_choice_collects_one_offer_per_member() {
    let (net, roster) = (InMemoryNetwork::new(), ceremony(3));
    let mut init = role(&net, &roster, initiator(), RoleContext::new());
    let mut guardians: Vec<Role> = (0..3)
        .map(|i| role(&net, &roster, guardian(i), RoleContext::new()))
        .collect();
    for (i, g) in guardians.iter_mut().enumerate() {
        let label = if i == 1 { "Abort" } else { "Commit" };
        g.send(&initiator(), label, &SendGuard::NONE, &())
            .await
            .unwrap();
    }
    let members = init.members("Guardian").unwrap();
    let offers = init
        .fan_in_choice(&members, Decision::LABELS, true)
        .await
        .unwrap();
    let labels: Vec<(&str, Peer)> = offers
        .iter()
        .map(|o| (o.label(), o.from().clone()))
        .collect();
    assert_eq!(
        labels,
        [
            ("Commit", guardian(0)),
            ("Abort", guardian(1)),
            ("Commit", guardian(2))
        ]
    );
}

#[tokio::test]
async fn members_beyond_the_family_size_are_errors_not_panics() {
    let (init, _g) = pair();
    assert_eq!(init.member("Guardian", 0).unwrap(), guardian(0));
    assert_eq!(
        init.member_range("Guardian", 0, 1).unwrap(),
        vec![guardian(0)]
    );
    let err = init.member("Guardian", 3).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::UnknownPeer);
    assert_eq!(err.peer(), Some(&guardian(3)));
    assert!(init.member_range("Guardian", 0, 2).is_err());
    assert!(matches!(
        init.member("Nobody", 0).unwrap_err().kind(),
        ErrorKind::UnknownFamily(_)
    ));
}
