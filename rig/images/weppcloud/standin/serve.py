"""Launcher behind the `gunicorn` and `uvicorn` shims of the stand-in image.

Takes whatever command line the prod compose gives (gunicorn --bind 0.0.0.0:9009 ... module:app,
uvicorn module:app --host 0.0.0.0 --port 8041 ...), keeps only where to listen and which app was
asked for, applies the build's failure mode, and runs Debian's gunicorn on the stand-in Flask app.
"""
import json
import os
import sys
import time

sys.path.insert(0, "/opt/standin")
from read_secrets import require_readable  # noqa: E402

# Where a service listens when its command does not say: the env contract of the real images.
LISTEN_ENV = ("STANDIN_BIND", "STATUS_LISTEN_ADDR", "PREFLIGHT_LISTEN_ADDR")


def default_bind():
    for var in LISTEN_ENV:
        if os.environ.get(var):
            return os.environ[var]
    if os.environ.get("CAP_SECRET_FILE") or os.environ.get("CAP_ASSET_ROOT"):
        return "0.0.0.0:3000"  # cap
    if os.environ.get("PORT"):
        return "0.0.0.0:" + os.environ["PORT"]  # weppcloudr
    return "0.0.0.0:8000"


def parse(flavour, argv):
    bind = None
    host, port = "127.0.0.1", None
    app_spec = None
    i = 0
    takes_value = {"--workers", "-w", "--threads", "--timeout", "-t", "--log-level", "--forwarded-allow-ips",
                   "--max-requests", "--max-requests-jitter", "-k", "--worker-class", "--timeout-keep-alive",
                   "--chdir", "--access-logfile", "--error-logfile", "--graceful-timeout", "--keep-alive"}
    while i < len(argv):
        a = argv[i]
        if a in ("--bind", "-b"):
            bind = argv[i + 1]; i += 2; continue
        if a.startswith("--bind="):
            bind = a.split("=", 1)[1]; i += 1; continue
        if a == "--host":
            host = argv[i + 1]; i += 2; continue
        if a == "--port":
            port = argv[i + 1]; i += 2; continue
        if a in takes_value:
            i += 2; continue
        if a.startswith("-"):
            i += 1; continue
        app_spec = a
        i += 1
    if flavour == "uvicorn":
        bind = f"{host}:{port or 8000}"
    return bind or default_bind(), app_spec


def main():
    flavour = sys.argv[1]
    bind, app_spec = parse(flavour, sys.argv[2:])
    with open("/etc/weppcloud-standin.json") as fh:
        build = json.load(fh)
    mode = build["failureMode"]
    service = app_spec or os.environ.get("STANDIN_SERVICE") or "weppcloud"
    print(f"[stand-in] {flavour} {service} build={build['build']} mode={mode} bind={bind}", flush=True)
    require_readable(service)
    if mode == "crash-on-start":
        print("[stand-in] crash-on-start: exiting 3", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "slow-start":
        print(f"[stand-in] slow-start: sleeping {build['slowStartSeconds']} s before listening", flush=True)
        time.sleep(build["slowStartSeconds"])
    os.environ["STANDIN_SERVICE"] = service
    os.execv("/usr/bin/gunicorn", [
        "gunicorn", "--bind", bind, "--workers", "1", "--threads", "4",
        "--chdir", "/opt/standin", "--access-logfile", "-", "--worker-tmp-dir", "/tmp",
        "standin_app:app",
    ])


if __name__ == "__main__":
    main()
