#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks need, only when missing.
# chromium: the browser tests drive it through Playwright (never `playwright install`).
# redis-server: the streaming pattern's broker (started by the project on a free loopback port).
# prometheus: scrapes the servers for the lesson (lesson.servers.observe starts its own on a free
#   loopback port with its own config and data folder; a system service is never used).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
# libb64-0d: Triton's perf_analyzer binary links it (benchmarks/bench_peers.py, section perf)
ldconfig -p 2>/dev/null | grep 'libb64\.so\.0d' >/dev/null || need+=(libb64-0d)  # no -q: pipefail + SIGPIPE
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# prometheus without its Recommends (prometheus-node-exporter: one more daemon, not needed).
lean=()
command -v prometheus >/dev/null 2>&1 || lean+=(prometheus)
if [ ${#need[@]} -eq 0 ] && [ ${#lean[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing Debian packages: ${need[*]} ${lean[*]}"
$SUDO apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ${#lean[@]} -gt 0 ]; then
  # on a systemd machine Debian's postinst enables and starts prometheus.service (:9090); the
  # project never talks to it, but stop it yourself if you do not want it
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
fi
