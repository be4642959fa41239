#!/bin/sh
# Stand-in rq worker (wepppy's docker/rq-worker-startup.sh <n> <queue>): idles until stopped.
echo "[stand-in] rq worker: $* (idle)"
exec sleep infinity
