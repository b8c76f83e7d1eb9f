#!/usr/bin/env bash
# Runs one benchmark script on two revisions of this repository, interleaved, so that both
# see the same machine: the figures of a shared machine drift over minutes (other work, the
# store's caches, thermal limits), and runs one after the other charge that drift to
# whichever revision came second.
#
#   bench/compare.sh [-n PASSES] [-o DIR] REV_A REV_B -- bench/projector.py --events 200000
#
# Each revision is checked out detached in a temporary worktree (the venv is shared: both
# revisions must run with this checkout's dependencies). Passes alternate the order, A B then
# B A, so neither always runs on the warmer store. Every run's whole output is kept in DIR
# (default: a new temporary directory); the lines that carry figures (ratios, events/s,
# requests/s, p99s, CPU per event or request) are printed per run, labelled, at the end.
# Needs the local stack (`scripts/stack start`) and nothing else running on the machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
passes=2
out=""
while getopts "n:o:" opt; do
  case $opt in
    n) passes=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: bench/compare.sh [-n PASSES] [-o DIR] REV_A REV_B -- SCRIPT [ARGS...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -lt 4 || $3 != "--" ]]; then
  echo "usage: bench/compare.sh [-n PASSES] [-o DIR] REV_A REV_B -- SCRIPT [ARGS...]" >&2
  exit 2
fi
revs=("$1" "$2")
shift 3
[[ $passes =~ ^[1-9][0-9]*$ ]] || { echo "compare: -n wants a positive number, got '$passes'" >&2; exit 2; }
out=${out:-$(mktemp -d)}
mkdir -p "$out"

trees=()
cleanup() {
  for tree in "${trees[@]}"; do git -C "$repo" worktree remove --force "$tree" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
for label in A B; do
  rev=${revs[$([[ $label == A ]] && echo 0 || echo 1)]}
  git -C "$repo" rev-parse --verify --quiet "$rev^{commit}" >/dev/null \
    || { echo "compare: '$rev' is not a revision of this repository" >&2; exit 2; }
  tree="$out/tree-$label"
  git -C "$repo" worktree add --quiet --detach --force "$tree" "$rev" >/dev/null
  ln -sfn "$repo/.venv" "$tree/.venv"
  trees+=("$tree")
done

for ((pass = 1; pass <= passes; pass++)); do
  if ((pass % 2)); then order=(A B); else order=(B A); fi
  for label in "${order[@]}"; do
    echo "[compare] pass $pass: $label ($(git -C "$out/tree-$label" rev-parse --short HEAD))" >&2
    (cd "$out/tree-$label" && .venv/bin/python "$@") >"$out/$label-$pass.txt" 2>&1 \
      || echo "[compare] $label pass $pass failed: see $out/$label-$pass.txt" >&2
  done
done

figures='ratio|events/s|req/s|requests/s|p99|us/event|ms per|throughput'
for label in A B; do
  rev=${revs[$([[ $label == A ]] && echo 0 || echo 1)]}
  for ((pass = 1; pass <= passes; pass++)); do
    echo "== $label ($rev), pass $pass"
    grep -E "$figures" "$out/$label-$pass.txt" || echo "(no figures: see $out/$label-$pass.txt)"
  done
done
echo "whole outputs: $out"
