#!/usr/bin/env bash
# The chaos test at full size: 10,000 member journeys on PostgreSQL through a `kaika serve` killed with
# SIGKILL every 20 s, with injected WeChat faults and a two-minute WeChat outage, then the checks of
# crates/server/tests/chaos.rs. The test command runs the same test with 48 journeys.
#
#   bench/chaos.sh                      # the full size, on PostgreSQL
#   CHAOS_JOURNEYS=2000 bench/chaos.sh  # any figure can be changed
set -euo pipefail
cd "$(dirname "$0")/.."
export CHAOS_JOURNEYS="${CHAOS_JOURNEYS:-10000}"
export CHAOS_CONCURRENCY="${CHAOS_CONCURRENCY:-32}"
export CHAOS_KILL_EVERY_SECS="${CHAOS_KILL_EVERY_SECS:-20}"
export CHAOS_OUTAGE_SECS="${CHAOS_OUTAGE_SECS:-120}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
exec cargo test --release --locked -p kaika-server --test chaos -- --nocapture
