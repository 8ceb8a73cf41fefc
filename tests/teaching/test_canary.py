"""The canary of notebook 08: stable, widening shares; a guard that rolls back; the record it keeps."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lesson.teaching.evolution import CONTRACT_V1, CONTRACT_V3_BREAKING, rollout_service
from lesson.teaching.rollout import (
    BUCKETS,
    Canary,
    CanaryEndpoint,
    CanaryGuard,
    RequestRejected,
    RolloutClient,
    arm_summary,
    bucket,
    users_on_both_arms,
)

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]
USERS = [f"user-{i:04d}" for i in range(4000)]


def test_bucket_is_the_same_in_another_process():
    code = "from lesson.teaching.rollout import bucket; print(bucket('user-7', 'canary'))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert int(other.stdout) == bucket("user-7", "canary")
    assert 0 <= bucket("user-7") < BUCKETS
    with pytest.raises(TypeError, match="user must be a str"):
        bucket(7)


@pytest.mark.parametrize("share", [0.01, 0.1, 0.5, 0.9])
def test_the_share_of_users_on_the_candidate_is_close_to_the_configured_one(share):
    canary = Canary("1", "2", share)
    on = sum(canary.arm(u) == "candidate" for u in USERS) / len(USERS)
    assert abs(on - share) < 0.03, on


def test_widening_only_moves_users_onto_the_candidate_and_salt_picks_other_users():
    canary = Canary("1", "2", 0.1)
    small = {u for u in USERS if canary.arm(u) == "candidate"}
    canary.set_share(0.3)
    wide = {u for u in USERS if canary.arm(u) == "candidate"}
    assert small < wide
    other = {u for u in USERS if Canary("1", "2", 0.1, salt="other").arm(u) == "candidate"}
    assert len(small & other) < 0.5 * len(small)
    canary.rollback()
    assert {canary.version_for(u) for u in USERS} == {"1"}
    assert {Canary("1", "2", 1.0).version_for(u) for u in USERS} == {"2"}


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.1"])
def test_bad_shares_and_versions_are_refused(bad):
    with pytest.raises(ValueError, match="share must be a number"):
        Canary("1", "2", bad)


def test_same_stable_and_candidate_and_bad_guards_are_refused():
    with pytest.raises(ValueError, match="both version"):
        Canary("1", "1", 0.1)
    with pytest.raises(ValueError, match="max_error_rate"):
        CanaryGuard(max_error_rate=1.0)
    with pytest.raises(ValueError, match="min_requests"):
        CanaryGuard(min_requests=0)
    with pytest.raises(ValueError, match="users"):
        CanaryEndpoint(RolloutClient(service=rollout_service()), Canary("1", "2", 0.1), [])


def test_guard_waits_then_judges_the_error_rate():
    guard = CanaryGuard(max_error_rate=0.1, min_requests=10)
    assert guard.verdict(9, 9) == "wait"
    assert guard.verdict(10, 1) == "healthy"
    assert guard.verdict(10, 2) == "rollback"


def test_a_breaking_candidate_is_rolled_back_by_the_guard_and_nobody_fails_after():
    broken = RolloutClient(service=rollout_service({"1": CONTRACT_V1, "2": CONTRACT_V3_BREAKING}))
    canary = Canary("1", "2", 0.2)
    endpoint = CanaryEndpoint(
        broken, canary, USERS[:300], guard=CanaryGuard(max_error_rate=0.05, min_requests=10)
    )
    outcomes = endpoint.send([{"instances": [ROW]}] * 400)
    assert endpoint.rolled_back_at is not None and canary.share == 0.0
    tried = [o for o in outcomes if o.arm == "candidate"]
    assert len(tried) == 10 and {o.status for o in tried} == {422}
    after = endpoint.after_rollback()
    assert after and {(o.version, o.status) for o in after} == {("1", 200)}
    rows = arm_summary(outcomes)
    assert [(r["canary share configured"], r["arm"]) for r in rows] == [
        ("20%", "stable"),
        ("20%", "candidate"),
        ("0%", "stable"),
    ]
    assert rows[1]["errors"] == 10 and rows[1]["statuses"] == "10x 422"
    assert sum(r["requests"] for r in rows) == 400
    assert users_on_both_arms(outcomes) == 0
    with pytest.raises(RequestRejected) as err:
        CanaryEndpoint(broken, Canary("1", "2", 1.0), ["u"])({"instances": [ROW]})
    assert err.value.status == 422


@pytest.mark.parametrize("share,min_requests", [(0.1, 20), (0.2, 10), (0.5, 5)])
def test_the_rollback_counts_add_up_to_every_request_sent(share, min_requests):
    """The request that trips the guard is counted from 1, as the table counts requests.

    The page once said "rolled back at request 195 of 600; of the 404 requests after it":
    the tripping request's 0-based index beside a count.
    """
    broken = RolloutClient(service=rollout_service({"1": CONTRACT_V1, "2": CONTRACT_V3_BREAKING}))
    endpoint = CanaryEndpoint(
        broken,
        Canary("1", "2", share),
        USERS[:300],
        guard=CanaryGuard(max_error_rate=0.05, min_requests=min_requests),
    )
    outcomes = endpoint.send([{"instances": [ROW]}] * 600)
    before_rows = [
        r for r in arm_summary(outcomes) if r["canary share configured"] == f"{share:.0%}"
    ]
    after = endpoint.after_rollback()
    # one at a time, the tripping request is the last one routed at the old share
    assert (
        endpoint.rolled_back_at
        == endpoint.routed_before_rollback
        == sum(r["requests"] for r in before_rows)
    )
    assert endpoint.rolled_back_at + len(after) == len(outcomes) == 600
    assert outcomes[endpoint.rolled_back_at - 1].status == 422  # the answer that tripped it failed
    assert {o.share for o in after} == {0.0}
    sentence = endpoint.rollback_sentence()
    assert (
        f"request {endpoint.rolled_back_at} of 600 answered; of the {len(after)} requests routed after "
        "the rollback, 0 failed."
    ) in sentence
    assert "already routed" not in sentence


def test_under_concurrency_requests_in_flight_are_counted_before_the_rollback():
    import threading

    broken = RolloutClient(service=rollout_service({"1": CONTRACT_V1, "2": CONTRACT_V3_BREAKING}))
    endpoint = CanaryEndpoint(
        broken,
        Canary("1", "2", 0.5),
        USERS[:300],
        guard=CanaryGuard(max_error_rate=0.05, min_requests=5),
    )
    start = threading.Barrier(4)

    def send(n: int) -> None:
        start.wait()
        for _ in range(n):
            try:
                endpoint({"instances": [ROW]})
            except RequestRejected:
                pass

    threads = [threading.Thread(target=send, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(endpoint.outcomes) == 200
    after = endpoint.after_rollback()
    assert endpoint.routed_before_rollback is not None
    assert endpoint.routed_before_rollback >= endpoint.rolled_back_at
    assert endpoint.routed_before_rollback + len(after) == 200
    assert not any(o.share for o in after)  # routed after the rollback: share 0
    assert all(
        o.share == 0.5 for o in endpoint.outcomes if o.index < endpoint.routed_before_rollback
    )


def test_no_rollback_says_so():
    endpoint = CanaryEndpoint(
        RolloutClient(service=rollout_service()),
        Canary("1", "2", 0.1),
        USERS[:10],
        guard=CanaryGuard(),
    )
    endpoint.send([{"instances": [ROW]}] * 30)
    assert endpoint.after_rollback() == [] and endpoint.rolled_back_at is None
    assert endpoint.rollback_sentence() == "The guard did not roll back in 30 requests."


def test_new_clients_send_request_id_and_get_it_echoed_by_v2():
    client = RolloutClient(service=rollout_service())
    endpoint = CanaryEndpoint(
        client, Canary("2", "1", 0.0), ["a", "b"], kind_of=lambda u: "new" if u == "a" else "old"
    )
    first = endpoint({"instances": [ROW]})
    second = endpoint({"instances": [ROW]})
    assert first["metadata"]["request_id"] == "a-0" and "request_id" not in second["metadata"]
    assert [(o.client, o.version, o.status) for o in endpoint.outcomes] == [
        ("new", "2", 200),
        ("old", "2", 200),
    ]


def test_medians_below_the_clock_tick_are_not_shown_as_numbers():
    endpoint = CanaryEndpoint(
        RolloutClient(service=rollout_service()), Canary("1", "2", 0.5), USERS[:20]
    )
    endpoint.send([{"instances": [ROW]}] * 20)
    rows = arm_summary(endpoint.outcomes, clock_tick_s=10.0)
    assert {r["median ms"] for r in rows} == {"< 10000"}
    assert all(isinstance(r["median ms"], float) for r in arm_summary(endpoint.outcomes))
