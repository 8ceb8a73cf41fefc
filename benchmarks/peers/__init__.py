"""Helpers for benchmarks/bench_peers.py: processes, load generators, peer servers, perf_analyzer."""
