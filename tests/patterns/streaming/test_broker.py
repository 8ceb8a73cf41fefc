"""Streaming on a real broker: Debian's redis-server on a free loopback port, started per module.

Duplicates are scored once, a SIGKILLed consumer's events all finish exactly once, bad events
become dead letters, the consumer survives a broker restart, one consumer per partition keeps
every key's order, and the accounting always closes: scored + dead-lettered == unique ids.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

redis_asyncio = pytest.importorskip("redis.asyncio")

from lesson.models.mlp_numpy import load_default_numpy_mlp  # noqa: E402
from lesson.patterns.streaming.accounting import broker_report, order_violations, pending_count  # noqa: E402
from lesson.patterns.streaming.broker_consumer import BrokerConsumer, BrokerDownError  # noqa: E402
from lesson.patterns.streaming.log import StreamLayout  # noqa: E402
from lesson.patterns.streaming.producer import event_rows, group_backlog, produce  # noqa: E402
from lesson.servers.broker import BrokerUnavailableError, running_broker, start_broker, stop_broker  # noqa: E402

pytestmark = pytest.mark.server

MODEL = load_default_numpy_mlp()


@pytest.fixture(scope="module")
def broker():
    try:
        with running_broker() as handle:
            yield handle
    except BrokerUnavailableError as exc:
        pytest.fail(f"the streaming tests need redis-server (make test installs it): {exc}")


@pytest.fixture
def layout() -> StreamLayout:
    return StreamLayout(f"t{uuid.uuid4().hex[:8]}", partitions=4)


def run(coro):
    return asyncio.run(coro)


async def _with_client(url, fn):
    client = redis_asyncio.from_url(url)
    try:
        return await fn(client)
    finally:
        await client.aclose()


def consumer(client, layout, **kw) -> BrokerConsumer:
    kw.setdefault("idle_exit_s", 0.5)
    kw.setdefault("max_seconds", 60.0)
    return BrokerConsumer(client, layout, MODEL, **kw)


def test_duplicates_are_scored_once_and_predictions_match_the_model(broker, layout):
    async def scenario(client):
        sent = await produce(client, layout, events=3000, duplicates=0.2, keys=32, seed=1)
        got = await consumer(client, layout).run()
        report = await broker_report(client, layout)
        results = await client.hgetall(layout.results)
        return sent, got, report, results

    sent, got, report, results = run(_with_client(broker.url, scenario))
    assert sent.duplicates > 400 and sent.appended == 3000 + sent.duplicates
    assert report.unique_ids == 3000 == report.scored == len(results)
    assert report.duplicates_suppressed == sent.duplicates == got.duplicates_suppressed
    assert report.outstanding == 0 and report.lost == 0 and report.dead_lettered == 0
    rows = event_rows()
    expected = MODEL.predict([rows[n % len(rows)] for n in range(3000)])
    for n in (0, 1, 17, 999, 2999):
        value = results[f"e{n}".encode()].decode()
        assert value.startswith("p:")
        assert abs(float(value[2:]) - expected[n]) < 1e-9


def test_bad_events_become_dead_letters_and_the_consumer_goes_on(broker, layout):
    async def scenario(client):
        sent = await produce(client, layout, events=2000, bad_fraction=0.05, seed=2)
        await consumer(client, layout).run()
        dead = await client.xrange(layout.dead)
        return sent, await broker_report(client, layout), dead

    sent, report, dead = run(_with_client(broker.url, scenario))
    assert sent.bad > 50
    assert report.dead_lettered == sent.bad == len(dead)
    assert report.scored + report.dead_lettered == report.unique_ids == 2000 and report.lost == 0
    reasons = {fields[b"reason"].decode() for _, fields in dead}
    assert any("expected 10 features, got 9" in r for r in reasons)
    assert any("expected a finite number" in r for r in reasons)
    assert any("is str, expected a number" in r for r in reasons)


def test_a_sigkilled_consumers_events_finish_exactly_once_on_a_sibling(broker, layout, tmp_path):
    """Consumer A reads a batch, is killed before it writes; B claims A's pending entries and finishes."""
    run(
        _with_client(broker.url, lambda c: produce(c, layout, events=4000, duplicates=0.05, seed=3))
    )
    cmd = [
        sys.executable,
        "-m",
        "lesson.patterns.streaming.cli",
        "consume",
        "--url",
        broker.url,
        "--namespace",
        layout.namespace,
        "--consumer",
        "a",
        "--batch",
        "64",
        "--delay-ms",
        "400",
        "--max-seconds",
        "60",
    ]
    victim = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def pending(client):
        return pending_count(client, layout)

    deadline = time.monotonic() + 30
    while run(_with_client(broker.url, pending)) == 0:
        assert victim.poll() is None and time.monotonic() < deadline, victim.stderr.read().decode()
        time.sleep(0.05)
    time.sleep(0.6)  # a few batches in: one is read but not yet written
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    left_pending = run(_with_client(broker.url, pending))
    assert left_pending > 0

    async def survive(client):
        got = await consumer(client, layout, consumer="b", min_idle_ms=200).run()
        return got, await broker_report(client, layout), await client.xlen(layout.out)

    got, report, out_len = run(_with_client(broker.url, survive))
    assert got.claimed >= left_pending
    assert report.redelivered >= left_pending
    assert report.outstanding == 0 and report.lost == 0
    assert report.scored == report.unique_ids == 4000 == out_len  # every event written exactly once


def test_the_consumer_reconnects_after_a_broker_restart(layout, tmp_path):
    handle = start_broker(directory=str(tmp_path))
    port, url = handle.port, handle.url
    restarted = []
    try:
        run(_with_client(url, lambda c: produce(c, layout, events=3000, seed=4)))

        async def scenario():
            client = redis_asyncio.from_url(url)
            worker = consumer(
                client, layout, batch=32, delay_ms=20, idle_exit_s=2.0, retry_budget_s=20.0
            )
            task = asyncio.create_task(worker.run())
            await asyncio.sleep(0.5)
            stop_broker(handle)  # SIGTERM: the append-only file is flushed
            await asyncio.sleep(0.3)
            restarted.append(
                start_broker(port=port, directory=str(tmp_path))
            )  # same data, same address
            got = await task
            report = await broker_report(client, layout)
            await client.aclose()
            return got, report

        got, report = run(scenario())
    finally:
        for h in restarted:
            stop_broker(h)
    assert got.reconnects >= 1
    assert report.outstanding == 0 and report.lost == 0
    assert report.scored == report.unique_ids == 3000


def test_one_consumer_per_partition_keeps_every_keys_order(broker, layout):
    async def scenario(client):
        await produce(client, layout, events=4000, keys=24, seed=5)
        workers = [
            consumer(client, layout, consumer=f"p{p}", partitions=[p], batch=16) for p in range(4)
        ]
        await asyncio.gather(*(w.run() for w in workers))
        return await order_violations(client, layout), await broker_report(client, layout)

    violations, report = run(_with_client(broker.url, scenario))
    assert report.scored == 4000 and report.lost == 0
    assert violations == 0


def test_the_producer_can_be_bounded_by_the_groups_backlog(broker, layout):
    async def scenario(client):
        worker = consumer(client, layout, batch=8, delay_ms=10, idle_exit_s=1.0)
        seen = []

        async def watch():
            while not produced.done():
                seen.append(await group_backlog(client, layout, "scorers"))
                await asyncio.sleep(0.01)

        consuming = asyncio.create_task(worker.run())
        produced = asyncio.create_task(produce(client, layout, events=1500, max_lag=300, seed=6))
        await asyncio.sleep(0)
        await watch()
        sent = await produced
        await consuming
        return sent, seen, await broker_report(client, layout)

    sent, seen, report = run(_with_client(broker.url, scenario))
    assert sent.paused_s > 0
    assert max(seen) <= 300 + 256  # the bound plus one pipeline of appends
    assert report.scored == 1500 and report.lost == 0


def test_a_missing_broker_is_a_clear_error_naming_the_address(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lesson.patterns.streaming.cli",
            "report",
            "--url",
            f"redis://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LESSON_STATE_DIR": str(tmp_path)},
    )
    assert out.returncode == 2
    assert f"no broker answers at redis://127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "lesson.patterns.streaming.cli", "report"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LESSON_STATE_DIR": str(tmp_path)},
    )
    assert out.returncode == 2 and "lesson broker start" in out.stderr

    async def down():
        client = redis_asyncio.from_url(f"redis://127.0.0.1:{port}")
        try:
            await BrokerConsumer(
                client, StreamLayout("x"), MODEL, retry_budget_s=0.3, max_seconds=5
            ).run()
        finally:
            await client.aclose()

    with pytest.raises(BrokerDownError, match=f"redis://127.0.0.1:{port}"):
        run(down())


def test_lesson_broker_start_records_the_address_for_lesson_stream(tmp_path):
    env = {**os.environ, "LESSON_STATE_DIR": str(tmp_path)}
    lesson = [sys.executable, "-m", "lesson"]
    started = subprocess.run(
        [*lesson, "broker", "start"], capture_output=True, text=True, timeout=60, env=env
    )
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("redis://127.0.0.1:")
        again = subprocess.run(
            [*lesson, "broker", "start"], capture_output=True, text=True, timeout=60, env=env
        )
        assert again.returncode == 1 and "already running" in again.stdout
        produced = subprocess.run(
            [*lesson, "stream", "produce", "--events", "500", "--duplicates", "0.1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert produced.returncode == 0, produced.stderr
        consumed = subprocess.run(
            [*lesson, "stream", "consume", "--idle-exit", "0.5"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert consumed.returncode == 0, consumed.stderr
        report = subprocess.run(
            [*lesson, "stream", "report", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        summary = json.loads(report.stdout)
        assert summary["unique_ids"] == summary["scored"] == 500 and summary["lost"] == 0
        assert summary["duplicates_suppressed"] == json.loads(produced.stdout)["duplicates"]
    finally:
        stopped = subprocess.run(
            [*lesson, "broker", "stop"], capture_output=True, text=True, timeout=60, env=env
        )
    assert stopped.returncode == 0 and "stopped the broker" in stopped.stdout
    assert not (tmp_path / "broker.json").exists()


def test_crash_demo_counts_what_the_killed_consumer_held_and_the_survivor_claims_it(broker):
    from lesson.teaching.broker_demo import crash_recovery_demo

    demo = run(crash_recovery_demo(broker.url, events=3000, rate=1500.0, kill_after_s=0.8))
    assert demo.pending_at_kill > 0, (
        "consumer a was killed holding nothing: the demo shows no recovery"
    )
    assert demo.survivor.claimed == demo.pending_at_kill
    assert demo.report.redelivered == demo.pending_at_kill
    assert demo.report.lost == 0
    assert demo.report.scored + demo.report.dead_lettered == demo.report.unique_ids == 3000


@pytest.mark.parametrize("trim", ["xdel", "xtrim"])
def test_pending_entries_trimmed_from_the_log_are_counted_as_lost_to_retention(
    broker, layout, trim
):
    """A consumer reads entries and stops before acking; the log then drops some of them.

    On Redis >= 7.0 XAUTOCLAIM names the deleted ids in its third element and drops them from
    the pending list: the sibling counts them, and the accounting shows them.
    """
    one = StreamLayout(layout.namespace, partitions=1)

    async def scenario(client):
        from lesson.patterns.streaming.broker_consumer import ensure_groups

        await produce(client, one, events=300, seed=5)
        await ensure_groups(client, one, "scorers")
        stream = one.events(0)
        read = await client.xreadgroup(
            "scorers", "gone", {stream: ">"}, count=40
        )  # pending, never acked
        ids = [entry_id for _, entries in read for entry_id, _ in entries]
        if trim == "xdel":
            removed = ids[5:17]
            assert await client.xdel(stream, *removed) == len(removed)
        else:  # keep only the newest 270: the oldest 30 entries, all pending, go
            assert await client.xtrim(stream, maxlen=270, approximate=False) == 30
            removed = ids[:30]
        version = (await client.info("server"))["redis_version"]
        got = await consumer(client, one, consumer="b", min_idle_ms=0).run()
        return (
            len(ids),
            len(removed),
            version,
            got,
            await broker_report(client, one),
            await pending_count(client, one),
        )

    pending_before, removed, version, got, report, pending_after = run(
        _with_client(broker.url, scenario)
    )
    assert int(version.split(".")[0]) >= 7, version
    assert pending_before == 40 and removed > 0
    assert got.lost_to_retention == removed == report.lost_to_retention
    assert got.claimed == pending_before - removed and pending_after == 0
    assert (
        report.outstanding == 0 and report.lost == removed
    )  # the ids with no outcome, and now their reason
    assert (
        report.scored + report.dead_lettered + report.lost_to_retention == report.unique_ids == 300
    )
    assert report.summary()["lost_to_retention"] == removed
    assert f"lost to retention     {removed}" in report.to_text()
