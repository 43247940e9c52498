#!/usr/bin/env bash
# `make run`: migrate, seed the demo clinic, then serve the app with a Celery worker and beat.
# Without DATABASE_URL the app uses the SQLite file db.sqlite3. Where Redis does not answer,
# the app is served anyway and reminders wait until a worker runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG="${DEBUG:-1}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
mkdir -p .run

"$BIN/python" manage.py migrate --noinput
"$BIN/python" manage.py seed_demo

pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if "$BIN/python" scripts/check_services.py --probe redis; then
  "$BIN/celery" -A clinic worker --loglevel=INFO --concurrency=2 >.run/worker.log 2>&1 &
  pids+=($!)
  "$BIN/celery" -A clinic beat --loglevel=INFO --schedule=.run/celerybeat-schedule >.run/beat.log 2>&1 &
  pids+=($!)
  echo "Celery worker and beat are running (logs in .run/worker.log and .run/beat.log)."
else
  echo "=================================================================================="
  echo "Redis does not answer at $REDIS_URL, so no Celery worker or beat was started:"
  echo "reminders will not be sent until Redis runs. The app is served anyway."
  echo "Start Redis with: redis-server --daemonize yes --port 6379"
  echo "=================================================================================="
fi

echo "Serving on http://127.0.0.1:8000/ (Ctrl-C stops everything)"
"$BIN/python" manage.py runserver 127.0.0.1:8000
