#!/usr/bin/env bash
# make test: every suite, in lanes that share the machine's cores.
#
#   unit ─────────────────► static ► own-servers     (niced once unit passed)
#   lab-build ► integration ────────────────────────────────────────►  (the long pole)
#             ► molecule                                (niced)
#
# The integration tests wait on the lab's nodes, swarm heartbeats, the emulator's listing lag
# and vcsim's tasks for about a third of their time; the other suites fill those gaps. They run
# at a lower priority so the long pole keeps the cores when both want them.
# Unit tests start first: a failure there, or in any lane, stops every lane at once and fails
# the run in minutes, not at the end. Each lane's lines carry its name.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}
declare -A lane_of=() started=()
finished=0

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
  finished=$((finished + 1))
  case $name in
    unit) start_lane checks 10 bash -c "$MAKE --no-print-directory static && $MAKE --no-print-directory own-servers" ;;
    lab-build)
      start_lane integration 0 "$MAKE" --no-print-directory integration
      start_lane molecule 10 "$MAKE" --no-print-directory molecule ;;
  esac
done
echo "make test: all $finished lanes passed in ${SECONDS} s"
