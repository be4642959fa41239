"""Stand-in for `python -m wepppy.tools.scheduler`: idles until stopped."""
import signal
import sys
import time

sys.path.insert(0, "/opt/standin")
from read_secrets import require_readable  # noqa: E402

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
require_readable("wepppy.tools.scheduler")
print("[stand-in] scheduler (idle)", flush=True)
while True:
    time.sleep(3600)
