#!/bin/bash
# How long `make demo` takes a new user: clone this repository into a new folder and run `make demo` there with no
# venv and no pip or model caches, until the demo answers HTTP 200; prints the install time and the total, then
# stops the demo. Usage: bash scripts/time_fresh_demo.sh [target folder, default /tmp/eccr_fresh_demo]
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/tmp/eccr_fresh_demo}
PORT=7860  # what `make demo` serves on
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then echo "port $PORT is in use; stop what serves there first" >&2; exit 2; fi
rm -rf "$DIR" && mkdir -p "$DIR" && git clone -q "$REPO" "$DIR/main" && cd "$DIR/main" || exit 2
export PIP_NO_CACHE_DIR=1 XDG_CACHE_HOME="$DIR/cache" HF_HOME="$DIR/cache/hf"
start=$(date +%s)
make demo > "$DIR/demo.log" 2>&1 &
installed=""
while true; do
  elapsed=$(( $(date +%s) - start ))
  if [ -z "$installed" ] && ls .venv/.installed-* > /dev/null 2>&1; then installed=$elapsed; fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" = "200" ]; then
    echo "installed after ${installed:-?} s, serving after $elapsed s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    break
  fi
  if ! kill -0 $! 2> /dev/null; then echo "make demo stopped before serving; see $DIR/demo.log" >&2; exit 1; fi
  sleep 5
done
grep "done in" "$DIR/demo.log"
pkill -f "$DIR/main/.venv/bin/" || true
