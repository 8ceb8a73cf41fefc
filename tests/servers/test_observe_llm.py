"""A real Prometheus scraping the generative server: the lab adds its job to a running
Prometheus (the configuration reloaded), and the PromQL p99 of its time-to-first-token histogram against
the same estimate made from the buckets the server exposes."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families
from server_support import http

from lesson.core.stats import histogram_quantile
from lesson.servers.llm.metrics import TTFT_BUCKETS
from lesson.servers.observe import prometheus_config
from lesson.servers.promql import TTFT, bucket_of, latency_quantile

pytestmark = pytest.mark.timeout(120)


def exposed_buckets(url: str) -> list[float]:
    """The server's cumulative TTFT bucket counts, from its /metrics."""
    _, _, raw = http("GET", url + "/metrics")
    (family,) = [f for f in text_string_to_metric_families(raw.decode()) if f.name == TTFT]
    return [s.value for s in family.samples if s.name == TTFT + "_bucket"]


def test_prometheus_scrapes_the_llm_server_and_estimates_its_ttft_p99():
    from lesson.lab import setup

    lab = setup(servers=("rest",), quiet=True)
    try:
        prom = lab.start_prometheus()  # scraping the REST server only
        # a generative server started after Prometheus: the lab adds its job (a reload)
        llm = lab.start_llm_server(impl="ngram", max_num_seqs=2, max_waiting=64)
        assert prom.targets[-1] == f"llm={llm.host}:{llm.port}"
        scraped = prom.api.wait_until_up(timeout=30)
        assert sorted(t["labels"]["job"] for t in scraped) == ["llm", "rest"]

        def one(i: int) -> None:
            body = {"prompt": "def ", "max_tokens": 8, "ignore_eos": True, "seed": i}
            assert http("POST", llm.url + "/v1/completions", body, timeout=30)[0] == 200

        with ThreadPoolExecutor(8) as pool:  # 8 at once for 2 slots: some first tokens wait
            list(pool.map(one, range(60)))
        exposed = exposed_buckets(llm.url)
        assert exposed[-1] >= 60  # the warm-up's too
        query = latency_quantile(0.99, None, "2m", metric=TTFT, job="llm")
        prom.api.wait_for(  # until a scrape after the load has been taken
            f'sum({TTFT}_count{{job="llm"}})', lambda n: n >= exposed[-1], timeout=20
        )
        p99 = prom.api.value(query)
    finally:
        lab.close()
    assert p99 is not None and not math.isnan(p99)
    estimate = histogram_quantile(0.99, exposed, TTFT_BUCKETS)
    # a rate over the window scales every bucket alike: the same bucket as the exposed counts
    print(
        f"TTFT p99: PromQL {p99 * 1000:.2f} ms, from the exposed buckets {estimate * 1000:.2f} ms"
    )
    assert abs(bucket_of(p99, TTFT_BUCKETS) - bucket_of(estimate, TTFT_BUCKETS)) <= 1, (
        p99,
        estimate,
    )


def test_a_target_names_its_job():
    config = prometheus_config(["llm=127.0.0.1:8002", "127.0.0.1:8000"])
    assert [j["job_name"] for j in config["scrape_configs"]] == ["llm", "lesson-1"]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:8002"]}]
    with pytest.raises(ValueError, match="job name"):
        prometheus_config(["a=127.0.0.1:1", "a=127.0.0.1:2"])
    with pytest.raises(ValueError, match="host:port"):
        prometheus_config(["bad job=127.0.0.1:1"])
