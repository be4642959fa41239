import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/*
 * A stand-in for actions/runner's release tarball: the real layout (config.sh, run.sh,
 * run-helper.sh.template, svc.sh, env.sh, bin/Runner.Listener, bin/Runner.Worker,
 * externals/), with scripts that record how they were called instead of talking to
 * GitHub, and a run.sh that keeps a process running until it is told to stop, as the real
 * one keeps the listener alive. Every call is one JSON line in <runner>/.standin/calls.log:
 *
 *   {"cmd":"config","args":[...],"tokenSha256":"<sha of ACTIONS_RUNNER_INPUT_TOKEN>","user":"..."}
 *   {"cmd":"remove","args":[...]}     {"cmd":"run","pid":N}     {"cmd":"stop","pid":N}
 *
 * config.sh refuses, as the real one would fail or leak, a token on its command line, a
 * missing token, and a runner that is configured already; it writes .runner (agentName) and
 * .credentials. A file <runner>/.standin/job makes run.sh start bin/Runner.Worker, which runs
 * while the file exists: a job in progress, for draining.
 */

export interface StandinRelease {
  version: string;
  file: string;
  tarball: Buffer;
  sha256: string;
}

/*
 * The stand-in's one JSON writer, run by the release's own Node.js (externals/node20/bin/node,
 * as a real release ships one), so no shell in it writes JSON:
 *   standin.js log <file> <cmd> [<key> <value>]... [-- <arg>...]   one line {cmd, key: value, args}
 *   standin.js registration <dir> <name> <url>                     .runner and .credentials as
 *     the runner writes them (IOUtil.SaveObject: indented, with a UTF-8 byte-order mark)
 */
const STANDIN_JS = `"use strict";
const fs = require("fs");
const path = require("path");
const [mode, ...rest] = process.argv.slice(2);
const saveObject = (file, value) => fs.writeFileSync(file, "\\uFEFF" + JSON.stringify(value, null, 2));
if (mode === "log") {
  const [file, cmd, ...pairs] = rest;
  const record = { cmd };
  const dash = pairs.indexOf("--");
  const kv = dash < 0 ? pairs : pairs.slice(0, dash);
  for (let i = 0; i + 1 < kv.length; i += 2) record[kv[i]] = kv[i] === "pid" ? Number(kv[i + 1]) : kv[i + 1];
  if (dash >= 0) record.args = pairs.slice(dash + 1);
  fs.appendFileSync(file, JSON.stringify(record) + "\\n");
} else if (mode === "registration") {
  const [dir, name, url] = rest;
  saveObject(path.join(dir, ".runner"), { agentId: 1, agentName: name, poolId: 1, poolName: "Default", serverUrl: "https://pipelines.actions.githubusercontent.com/standin", gitHubUrl: url, workFolder: "_work" });
  const old = process.umask(0o077);
  saveObject(path.join(dir, ".credentials"), { scheme: "OAuth", data: { clientId: "standin" } });
  process.umask(old);
} else {
  process.stderr.write("standin.js: unknown mode " + mode + "\\n");
  process.exit(2);
}
`;

const CONFIG_SH = `#!/bin/bash
# Stand-in config.sh (wepppy-cicd rig): records its arguments, never a token.
set -euo pipefail
DIR="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DIR/.standin"
log() { "$DIR/externals/node20/bin/node" "$DIR/externals/standin/standin.js" log "$DIR/.standin/calls.log" "$@"; }
if [ "\${1:-}" = remove ]; then
  log remove user "$(id -un)" -- "$@"
  rm -f "$DIR/.runner" "$DIR/.credentials" "$DIR/.credentials_rsaparams"
  exit 0
fi
all=("$@")
name=""; url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --token | --pat) echo "stand-in config.sh: a token on the command line" >&2; exit 3 ;;
    --name) name="$2"; shift 2 ;;
    --url) url="$2"; shift 2 ;;
    *) shift ;;
  esac
done
[ -n "\${ACTIONS_RUNNER_INPUT_TOKEN:-}" ] || { echo "stand-in config.sh: no registration token" >&2; exit 4; }
if [ -f "$DIR/.runner" ]; then echo "Cannot configure the runner because it is already configured." >&2; exit 5; fi
token_sha="$(printf '%s' "$ACTIONS_RUNNER_INPUT_TOKEN" | sha256sum | cut -d' ' -f1)"
log config tokenSha256 "$token_sha" user "$(id -un)" -- "\${all[@]}"
"$DIR/externals/node20/bin/node" "$DIR/externals/standin/standin.js" registration "$DIR" "$name" "$url"
`;

const RUN_SH = `#!/bin/bash
# Stand-in run.sh (wepppy-cicd rig): keeps a process running, as the real one keeps the listener alive.
DIR="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DIR/.standin" "$DIR/_diag"
cp -f "$DIR/run-helper.sh.template" "$DIR/run-helper.sh"
log() { "$DIR/externals/node20/bin/node" "$DIR/externals/standin/standin.js" log "$DIR/.standin/calls.log" "$@"; }
log run pid "$$" user "$(id -un)"
stop() { log stop pid "$$"; exit 0; }
trap stop TERM INT
[ -f "$DIR/.runner" ] || { echo "stand-in run.sh: not configured" >&2; exit 1; }
echo "$(date -u +%FT%TZ) listener up" >> "$DIR/_diag/Runner_standin.log"
worker=""
while :; do
  if [ -f "$DIR/.standin/job" ] && { [ -z "$worker" ] || ! kill -0 "$worker" 2>/dev/null; }; then
    "$DIR/bin/Runner.Worker" &
    worker=$!
  fi
  sleep 0.2 &
  wait $!
done
`;

const SVC_SH = `#!/bin/bash
# Stand-in svc.sh (wepppy-cicd rig): records its arguments; the stack writes its own unit instead.
DIR="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DIR/.standin"
"$DIR/externals/node20/bin/node" "$DIR/externals/standin/standin.js" log "$DIR/.standin/calls.log" svc -- "$@"
`;

const listener = (version: string) => `#!/bin/bash
# Stand-in Runner.Listener: answers --version.
[ "\${1:-}" = --version ] && { echo "${version}"; exit 0; }
exit 0
`;

const WORKER = `#!/bin/bash
# Stand-in Runner.Worker: a job, running while .standin/job exists.
DIR="$(cd "$(dirname "$0")/.." && pwd)"
while [ -f "$DIR/.standin/job" ]; do sleep 0.2; done
`;

/** Where the stand-in's externals/node20/bin/node points: /usr/bin/node is on the rig's hosts (Debian's nodejs) and on this machine. */
export const STANDIN_NODE = "/usr/bin/node";

/** The stand-in release of a version, as a .tar.gz and its sha256. */
export function buildStandinRelease(version: string): StandinRelease {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "runner-standin-"));
  try {
    const files: Record<string, { text: string; mode: number }> = {
      "config.sh": { text: CONFIG_SH, mode: 0o755 },
      "run.sh": { text: RUN_SH, mode: 0o755 },
      "run-helper.sh.template": { text: "#!/bin/bash\n# stand-in\n", mode: 0o755 },
      "svc.sh": { text: SVC_SH, mode: 0o755 },
      "env.sh": { text: "#!/bin/bash\n# stand-in env.sh\n", mode: 0o755 },
      "bin/Runner.Listener": { text: listener(version), mode: 0o755 },
      "bin/Runner.Worker": { text: WORKER, mode: 0o755 },
      "externals/README": { text: `stand-in externals of ${version}\n`, mode: 0o644 },
      "externals/standin/standin.js": { text: STANDIN_JS, mode: 0o644 },
    };
    for (const [name, f] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), f.text, { mode: f.mode });
    }
    // A real release ships its own Node.js here; the stand-in links the host's.
    fs.mkdirSync(path.join(dir, "externals/node20/bin"), { recursive: true });
    fs.symlinkSync(STANDIN_NODE, path.join(dir, "externals/node20/bin/node"));
    const file = `actions-runner-linux-x64-${version}.tar.gz`;
    const out = path.join(os.tmpdir(), `${path.basename(dir)}.tar.gz`);
    execFileSync("tar", ["-czf", out, "--owner=0", "--group=0", "--mtime=2026-01-01", "--sort=name", "-C", dir, "."]);
    const tarball = fs.readFileSync(out);
    fs.rmSync(out);
    return { version, file, tarball, sha256: createHash("sha256").update(tarball).digest("hex") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface StandinServer {
  /** The downloadBase to configure: <base>/v<version>/<file> is served. */
  base: string;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves stand-in releases as GitHub's release download URLs lay them out. */
export async function serveStandinReleases(releases: StandinRelease[], host = "127.0.0.1", port = 0): Promise<StandinServer> {
  const byPath = new Map(releases.map((r) => [`/v${r.version}/${r.file}`, r.tarball]));
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = byPath.get(req.url ?? "");
    if (!body) {
      res.writeHead(404);
      res.end("Not Found");
      return;
    }
    res.writeHead(200, { "Content-Type": "application/gzip", "Content-Length": body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as AddressInfo;
  return {
    base: `http://${host}:${address.port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A runner directory's .runner, read as the runner reads it (UTF-8, a byte-order mark first). */
export function readStandinRegistration(dir: string): { agentName: string; gitHubUrl: string } {
  return JSON.parse(fs.readFileSync(path.join(dir, ".runner"), "utf8").replace(/^\uFEFF/, ""));
}

/** The calls recorded in a stand-in runner's directory. */
export function parseStandinCalls(text: string): Array<Record<string, any>> {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
}
