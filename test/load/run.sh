#!/usr/bin/env bash
# Starts bin/hearth on a fresh data folder and runs hearth-load against it,
# with the server's PID (for RSS) and database file (for bytes per event).
# Extra arguments go to hearth-load (e.g. --messages 10000, or --soak 30m for
# the mixed load of `make soak`). With LOAD_KEEP=1 the data folder is kept
# and its path printed, to look into the database afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
serve() {
  ./bin/hearth serve --data-dir "$dir" --listen "127.0.0.1:$port" --registration open --rate-limits off --log-level error &
  pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null && return; sleep 0.05; done
  echo "hearth did not start" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; }
cleanup() {
  kill "$pid" 2>/dev/null || true
  if [ "${LOAD_KEEP:-}" = 1 ]; then echo "data folder kept: $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
# A first start creates the database; a clean stop checkpoints it, so its
# size is the baseline.
serve; stop
base=$(stat -c %s "$dir/hearth.db")
serve
sleep 1 # idle RSS after start-up
./bin/hearth-load --url "http://127.0.0.1:$port" --pid "$pid" --db "$dir/hearth.db" "$@" | tee "$dir/load.txt"
stop
size=$(stat -c %s "$dir/hearth.db")
events=$(sed -n 's/^events sent: //p' "$dir/load.txt")
if [ -n "$events" ]; then
  echo "database after clean stop: $size bytes; $(( (size - base) / events )) bytes per event over $events events (messages, state events, room set-up)"
else
  echo "database after clean stop: $size bytes"
fi
