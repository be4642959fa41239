"""The stand-in's start-up read of its secrets, as wepppy's services read theirs.

Every file compose gives the service under /run/secrets is opened and read as the user the
service runs as (its compose `user:`). One that cannot be read ends the process with exit 4,
naming the file, the uid and gid and the reason: a secret written with the wrong owner or mode
fails on the rig as it fails on wepppy's hosts, instead of a stand-in that never looks.
"""
import os
import sys

ROOT = "/run/secrets"
EXIT_UNREADABLE = 4

# Secrets wepppy mounts into a service that has no way to use them. shape-converter gets
# x-wepppy-service's redis_password but runs as 10001:10001 on an internal network with no
# Redis on it (wepppy-shape-converter-sandbox); no secret file is 10001's, on wepppy's hosts
# today (wctl's are the deploy user's, 0600) or under the stack.
UNUSED = {"wepppy.microservices.shape_converter:app": {"redis_password"}}


def unreadable(service):
    skip = UNUSED.get(service, set())
    bad = []
    names = sorted(os.listdir(ROOT)) if os.path.isdir(ROOT) else []
    for name in names:
        if name in skip:
            continue
        path = os.path.join(ROOT, name)
        try:
            with open(path, "rb") as fh:
                fh.read()
        except OSError as err:
            bad.append(f"{path} ({err.strerror})")
    return bad


def require_readable(service):
    bad = unreadable(service)
    if bad:
        print(f"[stand-in] {service}: cannot read its secrets as uid {os.getuid()} gid {os.getgid()}: "
              + ", ".join(bad), file=sys.stderr, flush=True)
        sys.exit(EXIT_UNREADABLE)


if __name__ == "__main__":
    require_readable(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("STANDIN_SERVICE", "weppcloud"))
