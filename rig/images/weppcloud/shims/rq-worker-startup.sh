#!/bin/sh
# Stand-in rq worker (wepppy's docker/rq-worker-startup.sh <n> <queue>): idles until stopped.
/usr/bin/python3 /opt/standin/read_secrets.py rq-worker || exit $?
echo "[stand-in] rq worker: $* (idle)"
exec sleep infinity
