#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks need, only when missing.
# chromium: the browser tests drive it through Playwright (never `playwright install`).
# redis-server: the streaming pattern's broker (started by the project on a free loopback port).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
# libb64-0d: Triton's perf_analyzer binary links it (benchmarks/bench_peers.py, section perf)
ldconfig -p 2>/dev/null | grep 'libb64\.so\.0d' >/dev/null || need+=(libb64-0d)  # no -q: pipefail + SIGPIPE
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
