#!/usr/bin/python3
"""Stand-in for wepppy's docker/wepppyo3-interchange-preflight.py entrypoint: `... -- <cmd>` runs <cmd>."""
import os
import sys

args = sys.argv[1:]
if "--" in args:
    args = args[args.index("--") + 1:]
if not args:
    print("preflight stand-in: no command after --", file=sys.stderr)
    sys.exit(2)
print("[stand-in] wepppyo3 interchange preflight: ok", flush=True)
os.execvp(args[0], args)
