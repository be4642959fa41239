"""Stand-in for the WEPPcloud Flask app (and the other HTTP services of the prod compose).

Behaves like the real app where the pipeline looks:
  GET /health            -> 200, JSON string "OK"  (like wepppy's Flask /health; checks no backend)
  GET /version           -> {"build", "failureMode", "service"}; every response has X-Weppcloud-Build
  /tests/api/*           -> the test-support API when TEST_SUPPORT_ENABLED is true, else 403
  GET /runs/<id>/<cfg>/  -> a run page for runs made through the test-support API
  GET /secrets-fingerprint -> {name: sha256 prefix} of each file it can read in /run/secrets, so
                            a test can tell from outside which secret values the app reads
Paths are accepted with or without the SITE_PREFIX (/weppcloud), since Caddy strips it.
  GET /rig/answer/<code>  -> answers with that HTTP status: how a rig test makes 5xx in Caddy's log
                            (the soak's error rate) without breaking the pages the suites fetch
Build-time switches (/etc/weppcloud-standin.json): never-healthy, healthy-then-5xx, slow-start,
create-run-fails (the test-support API answers 500 to create-run: a release that fails validation).
"""
import hashlib
import json
import os
import re
import secrets
import time

from flask import Flask, Response, jsonify, request

with open("/etc/weppcloud-standin.json") as fh:
    BUILD = json.load(fh)

SITE_PREFIX = os.environ.get("SITE_PREFIX", "/weppcloud").rstrip("/")
RUN_ROOT = os.environ.get("STANDIN_RUN_ROOT", "/tmp/weppcloud-standin/runs")
SERVICE = os.environ.get("STANDIN_SERVICE", "weppcloud")
RUNID_RE = re.compile(r"^[a-z0-9-]{1,64}$")

app = Flask(__name__)


def test_support_enabled():
    return os.environ.get("TEST_SUPPORT_ENABLED", "").strip().lower() in ("1", "true", "yes", "on")


def strip_prefix(path):
    if SITE_PREFIX and (path == SITE_PREFIX or path.startswith(SITE_PREFIX + "/")):
        path = path[len(SITE_PREFIX):] or "/"
    return path


def run_file(runid):
    return os.path.join(RUN_ROOT, runid + ".json")


@app.after_request
def add_build_header(resp):
    resp.headers["X-Weppcloud-Build"] = BUILD["build"]
    return resp


def health():
    if BUILD["failureMode"] == "never-healthy":
        return jsonify("UNHEALTHY"), 503
    return jsonify("OK"), 200


def version():
    return jsonify({"build": BUILD["build"], "failureMode": BUILD["failureMode"], "service": SERVICE})


def tests_api(rest):
    if not test_support_enabled():
        return jsonify({"error": "test support disabled"}), 403
    if rest == "ping" and request.method == "GET":
        return jsonify({"message": "test support online"})
    if rest == "create-run" and request.method == "POST":
        if BUILD["failureMode"] == "create-run-fails":
            return jsonify({"error": f"stand-in build {BUILD['build']} cannot create runs (create-run-fails)"}), 500
        body = request.get_json(silent=True) or {}
        config = body.get("config")
        if not isinstance(config, str) or not re.match(r"^[A-Za-z0-9_.-]+$", config):
            return jsonify({"error": "config is required"}), 400
        overrides = body.get("overrides") or {}
        runid = "rig-" + secrets.token_hex(6)
        run = {
            "runid": runid,
            "config": config,
            "url": f"{SITE_PREFIX}/runs/{runid}/{config}/",
            "cfg": f"{config}.cfg",
        }
        os.makedirs(RUN_ROOT, exist_ok=True)
        with open(run_file(runid), "w") as fh:
            json.dump({"run": run, "overrides": overrides, "created": time.time()}, fh)
        return jsonify({"run": run}), 201
    m = re.match(r"^run/([^/]+)$", rest)
    if m and request.method == "DELETE":
        runid = m.group(1)
        if not RUNID_RE.match(runid) or not os.path.exists(run_file(runid)):
            return jsonify({"error": "run not found", "runid": runid}), 404
        os.remove(run_file(runid))
        return jsonify({"runid": runid})
    return jsonify({"error": "not found"}), 404


def secrets_fingerprint():
    out = {}
    root = "/run/secrets"
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, name), "rb") as fh:
                out[name] = hashlib.sha256(fh.read()).hexdigest()[:16]
        except OSError as err:
            out[name] = f"unreadable: {err.strerror}"
    return jsonify(out)


def run_page(runid, config):
    if not RUNID_RE.match(runid) or not os.path.exists(run_file(runid)):
        return Response("run not found\n", status=404, mimetype="text/plain")
    with open(run_file(runid)) as fh:
        run = json.load(fh)["run"]
    if run["config"] != config:
        return Response("run not found\n", status=404, mimetype="text/plain")
    html = f"<html><body><h1>Run {runid}</h1><p>config {config}, build {BUILD['build']}</p></body></html>\n"
    return Response(html, mimetype="text/html")


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
def dispatch(path):
    p = strip_prefix("/" + path)
    # Any */health answers (cap's /cap/health, status' /health ...).
    if p == "/health" or p.endswith("/health"):
        return health()
    if p == "/version":
        return version()
    if p == "/secrets-fingerprint":
        return secrets_fingerprint()
    answer = re.match(r"^/rig/answer/([1-5][0-9][0-9])$", p)
    if answer:
        return Response(f"stand-in: answering {answer.group(1)} as asked\n", status=int(answer.group(1)), mimetype="text/plain")
    if BUILD["failureMode"] in ("healthy-then-5xx", "never-healthy"):
        return Response(f"stand-in build {BUILD['build']} is broken ({BUILD['failureMode']})\n",
                        status=500, mimetype="text/plain")
    if p.startswith("/tests/api/"):
        return tests_api(p[len("/tests/api/"):])
    m = re.match(r"^/runs/([^/]+)/([^/]+)/?$", p)
    if m and request.method in ("GET", "HEAD"):
        return run_page(m.group(1), m.group(2))
    if p == "/":
        return Response(f"<html><body>WEPPcloud stand-in, build {BUILD['build']}</body></html>\n",
                        mimetype="text/html")
    return Response("not found\n", status=404, mimetype="text/plain")
