# shellcheck shell=bash
# Defaults shared by scripts/install, scripts/stack and scripts/test. Sourced, never run.
# Every value can be overridden from the environment; ports and STACK_DIR are how a second
# stack (e.g. a clean clone's CI run) coexists with the one in /work/main.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export REPO_ROOT

STACK_DIR=${STACK_DIR:-$REPO_ROOT/.stack}
mkdir -p "$STACK_DIR"
STACK_DIR=$(cd "$STACK_DIR" && pwd)
LOG_DIR=$STACK_DIR/logs
RUN_DIR=$STACK_DIR/run

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
FERRETDB_PORT=${FERRETDB_PORT:-27017}
POSTGRES_PORT=${POSTGRES_PORT:-54329}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
# Where scripts/install puts the FerretDB binary and the Kafka jars, and where scripts/stack
# takes them from. A private stack (own STACK_DIR and ports, e.g. the fault-injection tests)
# points these at an installed stack's instead of installing again.
FERRETDB_BIN=${FERRETDB_BIN:-$STACK_DIR/bin/ferretdb}
KAFKA_LIBS=${KAFKA_LIBS:-$STACK_DIR/kafka/libs}
# Exported: the tests' private stacks start scripts/stack with these (a custom STACK_DIR
# holds the installed binaries, not this checkout's .stack).
export FERRETDB_BIN KAFKA_LIBS

FERRETDB_VERSION=v2.7.0
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PYTHON=${PYTHON:-python3.11}
VENV_PY=${VENV_PY:-$REPO_ROOT/.venv/bin/python}


say() { printf '[%s] %s\n' "${SCRIPT_NAME:-stack}" "$*"; }
die() {
  printf '[%s] ERROR: %s\n' "${SCRIPT_NAME:-stack}" "$*" >&2
  exit 1
}

# sha256 of the given files' contents: the stamp that tells an install step is up to date.
content_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Starts the local stack, in dependency order: a service running but not answering (hung) is
# stopped first, so it starts again after the ones it needs. Appends the services that were
# not running to the array named by $1: the caller stops those when it ends.
start_local_stack() {
  local -n newly_started=$1
  local svc code
  for svc in postgres ferretdb kafka; do
    code=0
    "$REPO_ROOT/scripts/stack" status "$svc" >/dev/null || code=$?
    case $code in
      0) ;;
      4)
        say "$svc is running but not answering: restarting it"
        "$REPO_ROOT/scripts/stack" stop "$svc"
        ;;
      *) newly_started+=("$svc") ;;
    esac
  done
  "$REPO_ROOT/scripts/stack" start postgres ferretdb kafka
}
