"""The p99 comparison's sentence about the dashboard's window, from given figures (no Prometheus:
`tests/servers/test_observe.py` runs the real one)."""

from __future__ import annotations

from lesson.teaching.observe import P99Comparison


def comparison(**window) -> P99Comparison:
    bounds = (0.00025, 0.0005, 0.00075, 0.001)
    return P99Comparison(1500, 0.0056, 0.0005, 0.0005, 0.0026, "5s", 0.0005, bounds, **window)


def test_the_window_sentence_counts_the_requests_that_were_not_the_run():
    text = comparison(window_requests=1801, window_others=301, others_p99=0.00466).sentence()
    assert "rate[5s] ending at the run's last scrape, gave 2.60 ms" in text
    assert "its window held 1801 requests, 301 of them answered in the seconds before" in text
    assert "whose own p99 estimate is 4.66 ms" in text


def test_a_window_of_only_this_run_or_of_unknown_contents_says_so():
    assert "this run's only" in comparison(window_requests=1500, window_others=0).window_text()
    assert "mixes other requests" in comparison().window_text()
    part = comparison(window_requests=900, window_others=0).window_text()
    assert "held 900 of the run's 1500 requests" in part
    none = P99Comparison(1500, 0.0056, 0.0005, 0.0005, None, "5s", 0.0005, (0.001,))
    assert "had no answer" in none.window_text()
