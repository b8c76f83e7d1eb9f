#!/usr/bin/env bash
# What scripts/test runs once the stack is up, under its time bound (scripts/lib/bounded.sh):
# the checks, then pytest. Run by scripts/test, which sets the environment; not by hand.
#
#   scripts/lib/suite.sh [pytest args...]
#
# Without pytest args (the whole suite, as CI runs it), the tests that start a private stack
# of their own (marker `private_stack`: tests/integration/private_stack.py) run in a second
# pytest process beside the checks and the rest. They touch neither the shared stack nor its
# data, and spend most of their minutes waiting on the processes they start, crash and
# restart, so side by side the suite ends about that much sooner. Their report follows the
# main one; the exit status is the first failure's. TEST_SERIAL=1 runs them in the one
# pytest process instead (a machine short of cores or memory for two stacks at once).
set -uo pipefail
SCRIPT_NAME=test
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=bounded.sh
source "$REPO_ROOT/scripts/lib/bounded.sh"
cd "$REPO_ROOT"

rc=0
beside=
# The bound's INT reaches this shell too: taken here (each command it runs gets the default
# back), so that the report of the tests beside still follows once they have torn down.
trap 'rc=130' INT
beside_log=$LOG_DIR/pytest-private-stack.log
if [[ $# -eq 0 && ${TEST_SERIAL:-0} != 1 ]]; then
  mkdir -p "$LOG_DIR"
  # A job started with & in a script ignores SIGINT, and Python then never raises
  # KeyboardInterrupt: env gives it the default back, so that the bound's INT (which reaches
  # this whole process group) makes it tear its private stack down and report.
  env --default-signal=INT .venv/bin/pytest -q -p no:cacheprovider -m private_stack \
    >"$beside_log" 2>&1 &
  beside=$!
  set -- -m "not private_stack"
fi

# The alert rules against their input series (ops/prometheus/alerts.test.yml), and the scrape
# configuration; no service needed.
(cd ops/prometheus && promtool check config --syntax-only prometheus.yml >/dev/null &&
  promtool test rules alerts.test.yml) || rc=$?
# Lint, formatting and types (strict mypy, [tool.mypy] in pyproject.toml) of the whole tree:
# seconds, and a change that breaks them should not land however the tests do.
.venv/bin/ruff check --quiet . || rc=$?
.venv/bin/ruff format --check --quiet . || rc=$?
.venv/bin/mypy || rc=$?
# The import contracts of pyproject.toml (docs/architecture.md), before the tests.
.venv/bin/lint-imports --no-cache || rc=$?
# Dead code: vulture at 80% confidence over the whole tree ([tool.vulture] in pyproject.toml;
# names that must stay are in vulture_whitelist.py with their reasons).
.venv/bin/vulture || { say "vulture found dead code (above)"; rc=1; }

code=0
.venv/bin/pytest -q "$@" || code=$?
((rc != 0)) || rc=$code
if [[ -n $beside ]]; then
  code=0
  wait_for_exit "$beside" || code=$?
  say "the tests on a private stack of their own (exit $code; also in $beside_log):"
  cat "$beside_log"
  ((rc != 0)) || rc=$code
fi
exit "$rc"
