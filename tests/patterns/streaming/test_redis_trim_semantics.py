"""What the streaming page says Redis does with an entry trimmed while pending, on the real broker.

docs/patterns/streaming.md and notebook 04 say: since Redis 7.0, XAUTOCLAIM returns the ids of
pending entries that trimming deleted in a third element of its reply and drops them from the
pending list. This checks it on the redis-server the lesson starts.
"""

from __future__ import annotations

import pytest

redis = pytest.importorskip("redis")

from lesson.servers.broker import BrokerUnavailableError, running_broker  # noqa: E402

pytestmark = pytest.mark.server


def test_xautoclaim_reports_trimmed_pending_entries_as_deleted():
    try:
        with running_broker() as broker:
            client = redis.Redis.from_url(broker.url, decode_responses=True)
            major = int(client.info()["redis_version"].split(".")[0])
            if major < 7:
                pytest.skip(
                    f"redis {client.info()['redis_version']}: before 7.0 the reply has two elements"
                )
            ids = [client.xadd("s", {"n": str(i)}) for i in range(3)]
            client.xgroup_create("s", "g", id="0")
            assert len(client.xreadgroup("g", "c1", {"s": ">"}, count=3)[0][1]) == 3
            assert client.xpending("s", "g")["pending"] == 3
            client.xadd(
                "s", {"n": "kept"}, maxlen=1, approximate=False
            )  # trims the three pending entries
            _, claimed, deleted = client.xautoclaim("s", "g", "c2", min_idle_time=0, start_id="0-0")
            pending_after = client.xpending("s", "g")["pending"]
            client.close()
    except BrokerUnavailableError as exc:
        pytest.fail(f"the streaming tests need redis-server (make test installs it): {exc}")
    assert claimed == [] and deleted == ids
    assert pending_after == 0
