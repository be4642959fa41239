"""Stand-in for `python -m wepppy.tools.scheduler`: idles until stopped."""
import signal
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("[stand-in] scheduler (idle)", flush=True)
while True:
    time.sleep(3600)
