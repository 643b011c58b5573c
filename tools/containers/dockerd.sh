#!/usr/bin/env bash
# Start or stop the Docker engine for `make sam-local` on a machine without systemd (CI's, this project's).
#   dockerd.sh start   installs docker.io if dockerd is missing, starts dockerd unless one already answers,
#                      and records the PID it started in out/dockerd.pid
#   dockerd.sh stop    stops the dockerd that `start` started (by that PID), and no other
# Exits non-zero with one line saying why when the engine cannot start.
set -euo pipefail
cd "$(dirname "$0")/../.."
pidfile=out/dockerd.pid
say() { printf 'dockerd: %s\n' "$*"; }

case "${1:-}" in
start)
  if docker info >/dev/null 2>&1; then say "already running"; exit 0; fi
  if ! command -v dockerd >/dev/null; then
    say "installing docker.io"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; } >/dev/null 2>&1 \
      || { echo "dockerd: cannot install docker.io (apt-get failed)" >&2; exit 1; }
  fi
  mkdir -p out
  dockerd >out/dockerd.log 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then say "started (pid $(cat "$pidfile"))"; exit 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
    sleep 1
  done
  echo "dockerd: the container engine did not start: $(tail -n 1 out/dockerd.log)" >&2
  exit 1
  ;;
stop)
  [ -f "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    say "stopped (pid $pid)"
  fi
  rm -f "$pidfile"
  ;;
*)
  echo "usage: dockerd.sh start|stop" >&2; exit 2 ;;
esac
