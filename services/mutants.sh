#!/usr/bin/env bash
# Mutation testing of the services' verification code, one group of files at
# a time, each against the tests that exercise it (see CONTRIBUTING.md).
#
#   services/mutants.sh            every group, one after another
#   services/mutants.sh amp dkd    only these groups
#   services/mutants.sh --list     the mutants each group would try
#   services/mutants.sh amp -- --in-diff d.diff   options after -- go to cargo-mutants
#
# A group names the files, the functions (a cargo-mutants `--re` regex over
# mutant names: `::name` for methods, ` name ` for free functions) and the
# test targets. Every run must end with `0 missed`; reports land in
# mutants.out/<group>/mutants.out/ (missed.txt lists the survivors).
set -euo pipefail
cd "$(dirname "$0")/.."

s=services/src
declare -A files regex tests
# The shared wrappers and the first four services rebuilt, against their tests.
files[core]="$s/crypto.rs $s/recovery/guardian_ceremony.rs $s/consensus/aura_consensus.rs $s/recovery/recovery_protocol.rs $s/recovery/guardian_setup.rs"
regex[core]='::(verify|ensure_eq|verify_mac|open|open_with|check_share|on_commit_ceremony|on_abort_ceremony|on_propose_rotation|on_ceremony_response|on_share_installed|on_no_share|on_sign_share|on_nonce_commit|on_sign_request|on_consensus_result|aggregate|on_share_delivery|on_share_accepted|on_setup_complete|on_device_binding|on_guardian_approval|on_recovery_complete|on_recovery_bundle)\b| (verify_mac|ensure_eq|rebuild|ours|open_with) '
tests[core]="--test guardian_ceremony --test aura_consensus --test recovery_protocol --test guardian_setup --lib"
files[amp]="$s/transport/amp_transport.rs"
regex[amp]='::(on_channel_accept|on_amp_receipt|on_checkpoint_ack|on_channel_open|objection|check_current|check_envelope|on_amp_message|on_ratchet_checkpoint|on_channel_close)\b'
tests[amp]="--test amp_transport --lib"
files[dkd]="$s/authentication/dkd.rs $s/crypto/tprf.rs"
regex[dkd]='::(on_share_commitment|on_share_reveal|check_reveal|result|derive|on_derivation_ack|on_derivation_request|on_commitment_set|on_derived_key)\b| (verify|combine|evaluate|input|binding|transcript)\b|Input::new\b'
tests[dkd]="--test dkd --lib"
files[auth]="$s/authentication/guardian_auth_relational.rs"
regex[auth]='::(on_auth_challenge|on_auth_attestation|on_session_bound|on_relational_auth_request|device_key|on_auth_proof|on_session_binding)\b'
tests[auth]="--test guardian_auth_relational --lib"
files[coordination]="$s/demo/coordination.rs"
regex[coordination]='::(on_session_accept|on_outcome_ack|ours|verify|check_handle|on_session_established)\b'
tests[coordination]="--test session_coordination --lib"
files[rendezvous]="$s/rendezvous/rendezvous_exchange/mod.rs $s/rendezvous/rendezvous_exchange/responder.rs $s/rendezvous/relayed_rendezvous.rs $s/crypto.rs"
regex[rendezvous]='\b(on_version_handshake_response|on_descriptor_reply|on_handshake_complete|on_version_handshake_request|on_rendezvous_descriptor|on_handshake_init|on_channel_established|check|channel_key|responder_confirmation|channel_id|digest|on_relay_complete|on_sealed_handshake_reply|on_relay_request|on_relay_response|on_sealed_handshake|on_relay_release|on_relay_forward|check_confirmation|confirmation|session_key|open_from|same_slot|hold|agree)\b'
tests[rendezvous]="--test rendezvous_exchange --test relayed_rendezvous --lib"
files[guardian-invitation]="$s/invitation/guardian_invitation.rs"
regex[guardian-invitation]='::(on_guardian_invite_response|on_guardian_binding|on_join_notice_ack|on_guardian_invite|on_invitation_complete|on_guardian_join_notice|verify|objection|guardian_id)\b'
tests[guardian-invitation]="--test guardian_invitation --lib"
files[invitation]="$s/invitation/invitation_exchange.rs"
regex[invitation]='(::|\s)(on_invitation_response|on_contact_descriptor_reply|on_invitation_ack|on_invitation_offer|on_contact_descriptor|on_relationship_established|code_of|offer_proof|response_proof|descriptor_digest|context_id|offer_parts|code_key|uncommitted)\b'
tests[invitation]="--test invitation_exchange --lib"
files[membership-epochs]="$s/recovery/guardian_membership.rs $s/recovery/guardian_membership/messages.rs $s/sync/epochs.rs"
regex[membership-epochs]='::(on_membership_vote|on_candidate_confirmation|on_reshare_commitment|on_membership_proposal|on_reshare_request|on_membership_committed|on_membership_notice|is_voter|verify|digest|on_epoch_rotation_proposal|on_checkpoint_request|on_journal_delta|on_epoch_commit|on_journal_checkpoint|on_delta_merged|on_epoch_rotation_ack|on_epoch_confirmation|commit_digest|reported|merged_head)\b|replace (check_contributor|check_roster|check_notice|check_epoch|head) '
tests[membership-epochs]="--test guardian_membership --test epochs --lib"
order="core amp dkd auth coordination rendezvous guardian-invitation invitation membership-epochs"

list=()
groups=()
extra=()
while [[ $# -gt 0 ]]; do
  arg="$1"; shift
  case "$arg" in
    --list) list=(--list) ;;
    --) extra=("$@"); break ;;
    *) [[ -n "${files[$arg]+x}" ]] || { echo "unknown group \`$arg\` (groups: $order)" >&2; exit 2; }
       groups+=("$arg") ;;
  esac
done
[[ ${#groups[@]} -gt 0 ]] || read -r -a groups <<<"$order"

export CARGO_PROFILE_DEV_DEBUG=0
for g in "${groups[@]}"; do
  echo "== $g"
  mkdir -p "mutants.out/$g"
  args=()
  for f in ${files[$g]}; do args+=(-f "$f"); done
  # shellcheck disable=SC2086 # the test selection is a list of words
  cargo mutants -p choreo-services -j 1 "${args[@]}" --re "${regex[$g]}" \
    --output "mutants.out/$g" "${list[@]}" "${extra[@]}" -- ${tests[$g]}
done
