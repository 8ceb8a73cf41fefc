"""Ray Serve's options and `lesson serve ray`'s refusals: checked before any cluster starts."""

from __future__ import annotations

import pytest

from lesson.servers.ray_serve import RayServeOptions
from lesson.servers.ray_serve.cluster import RayServe


def test_a_fixed_count_or_autoscaling_becomes_rays_config():
    assert not RayServeOptions(replicas=3).autoscaling
    options = RayServeOptions(min_replicas=0, max_replicas=4, target_ongoing=0.5, upscale_delay_s=1)
    config = options.autoscaling_config()
    assert options.autoscaling
    assert (config["min_replicas"], config["max_replicas"]) == (0, 4)
    assert (config["target_ongoing_requests"], config["upscale_delay_s"]) == (0.5, 1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 0}, "replicas must be in 1..64"),
        ({"max_replicas": 2, "min_replicas": 3}, "min_replicas must be in 0..max_replicas"),
        ({"max_replicas": 2, "initial_replicas": 5}, "initial_replicas"),
        ({"target_ongoing": 0}, "target_ongoing"),
        ({"max_queued_requests": -5}, "max_queued_requests"),
        ({"upscale_delay_s": -1}, "upscale_delay_s"),
        ({"look_back_period_s": 2, "metrics_interval_s": 5}, "shorter than look_back_period_s"),
    ],
)
def test_bad_options_are_refused_with_the_reason(values, message):
    with pytest.raises(ValueError, match=message):
        RayServeOptions(**values)


def test_the_cluster_refuses_bad_sizes_before_starting():
    with pytest.raises(ValueError, match="num_cpus"):
        RayServe(num_cpus=0)
    with pytest.raises(ValueError, match="metrics_push_s"):
        RayServe(metrics_push_s=0)


def test_the_cli_refuses_a_non_loopback_host_and_bad_values():
    typer_testing = pytest.importorskip("typer.testing")
    from lesson.cli import build_app

    runner = typer_testing.CliRunner()
    app = build_app()
    out = runner.invoke(app, ["serve", "ray", "--host", "0.0.0.0"])
    assert out.exit_code != 0 and "loopback" in out.output
    out = runner.invoke(app, ["serve", "ray", "--max-replicas", "2", "--min-replicas", "3"])
    assert out.exit_code != 0 and "min_replicas" in out.output
