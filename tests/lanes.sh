#!/usr/bin/env bash
# make test: every suite, in lanes that share the machine's two cores.
#
#   unit ──────────┐
#   lab-build ─────┴► integration ───────────────────────────────────►  (the long pole)
#             └► molecule         └► static ► own-servers   (nice 19)
#
# Measured (vmstat, 5 s samples): the integration tests keep both cores busy while they make the
# fleet and bootstrap it, then wait on nodes, swarm heartbeats, the emulator's listing lag and
# vcsim's tasks for about 40 % of the rest. So the unit tests and molecule (whose node containers
# no niceness reaches) run before them, and lint, sanity and the own-servers tests beside them at
# the lowest priority, where they take the cores only when the integration tests leave them idle.
# A failure in any lane stops every lane at once; a unit test failure shows in minutes. Each
# lane's lines carry its name.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}
declare -A lane_of=() started=()

start_lane() {      # start_lane NAME NICENESS COMMAND...: in its own session, so a stop takes all of it
  local name=$1 nice=$2
  shift 2
  # Its lines prefixed with its name; its status is the command's (pipefail).
  setsid nice -n "$nice" bash -c "set -o pipefail; \"\$@\" 2>&1 | sed -u 's/^/[$name] /'" _ "$@" &
  lane_of[$!]=$name
  started[$name]=$SECONDS
}

stop_lanes() {
  local pid
  for pid in "${!lane_of[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null
  done
  wait
}

start_lane unit 0 "$MAKE" --no-print-directory unit
start_lane lab-build 0 "$MAKE" --no-print-directory lab-build
trap 'echo "make test: interrupted; stopping every lane" >&2; stop_lanes; exit 130' INT TERM
declare -A passed=()

while [ "${#lane_of[@]}" -gt 0 ]; do
  wait -n -p pid
  status=$?
  name=${lane_of[$pid]}
  unset "lane_of[$pid]"
  if [ "$status" -ne 0 ]; then
    echo "make test: lane $name failed (exit $status) after $((SECONDS - started[$name])) s; stopping the others" >&2
    stop_lanes
    exit 1
  fi
  echo "make test: lane $name passed in $((SECONDS - started[$name])) s (at ${SECONDS} s)"
  passed[$name]=1
  case $name in
    lab-build) start_lane molecule 10 "$MAKE" --no-print-directory molecule ;;
  esac
  if [ -n "${passed[unit]:-}" ] && [ -n "${passed[lab-build]:-}" ] && [ -z "${started[integration]:-}" ]; then
    start_lane integration 0 "$MAKE" --no-print-directory integration
    start_lane checks 19 bash -c "$MAKE --no-print-directory static && $MAKE --no-print-directory own-servers"
  fi
done
echo "make test: all ${#passed[@]} lanes passed in ${SECONDS} s"
