# shellcheck shell=bash
# run_bounded: a long command under timeout(1) that a Ctrl-C or a CI runner's signal still ends
# promptly, with the command's own clean-up (pytest's fixture teardown). Sourced, never run.
#
# timeout(1) puts itself and the command in a process group of their own, so that it can signal
# everything the command started. A Ctrl-C in the terminal, or a CI runner signalling the job's
# process group, then reaches only the calling bash, and bash runs its INT/TERM traps only once
# its foreground child has ended: the signal did nothing for up to the whole timeout, and a
# runner's SIGKILL after that left timeout and the command running, and the services the
# script started were never stopped. Hence: the command runs in the background, INT and TERM
# are handed on to timeout as INT (which passes it to the command's group: pytest tears its
# fixtures down and reports; a TERM would end it without either), and bash waits until it
# has really exited before the caller goes on to its own clean-up.
#
# Not `timeout --foreground`: a TERM to the job's group would then reach pytest itself and end
# it without teardown, a TERM to bash alone would still wait for the whole run, and at the
# deadline only pytest would be signalled, not the processes it started.

# run_bounded DURATION GRACE COMMAND...
#   Runs COMMAND. After DURATION (timeout(1)'s syntax), or when this shell gets INT or TERM,
#   COMMAND and its process group get SIGINT; GRACE seconds later, if COMMAND still runs,
#   SIGKILL. Returns COMMAND's status (124 when DURATION ran out), or 130 / 143 when this
#   shell got INT / TERM. The caller's INT and TERM traps are back in place on return.
run_bounded() {
  local duration=$1 grace=$2 saved_traps code
  shift 2
  saved_traps=$(trap -p INT TERM)
  _bounded_pid=
  _bounded_signalled=0
  # Set before the command starts, so that no signal in between takes the caller's trap and
  # leaves the command running behind it.
  trap '_bounded_signalled=130; _bounded_interrupt' INT
  trap '_bounded_signalled=143; _bounded_interrupt' TERM
  timeout --signal=INT --kill-after="$grace" "$duration" "$@" &
  _bounded_pid=$!
  ((_bounded_signalled == 0)) || _bounded_interrupt
  code=0
  wait_for_exit "$_bounded_pid" || code=$?
  trap - INT TERM
  eval "$saved_traps"
  ((_bounded_signalled == 0)) || return "$_bounded_signalled"
  return "$code"
}

_bounded_interrupt() {
  [[ -z $_bounded_pid ]] || kill -INT "$_bounded_pid" 2>/dev/null || true
}

# wait_for_exit PID: returns PID's exit status once it has exited. A trapped signal ends
# `wait` early (status > 128) with the process still running: wait again until it has.
wait_for_exit() {
  local pid=$1 code=0
  wait "$pid" || code=$?
  while kill -0 "$pid" 2>/dev/null; do
    code=0
    wait "$pid" || code=$?
  done
  return "$code"
}
