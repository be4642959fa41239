/**
 * A rig host made to look like wepppy's hosts today (issue 12, item 1): a checkout directory
 * with wepppy's docker/ (the prod compose file adapted for compose v1 by the rig's tested
 * transformation, defaults.env, caddy/Caddyfile, redis-entrypoint.sh), its .env and secret files
 * with random values as wctl leaves them, images tagged as wctl builds them on the host, the
 * stack started as wctl starts it (docker compose -p <project> -f ... up -d in docker/, as the
 * deploy user), Postgres rows written under the existing password, Redis keys, and a run
 * directory under /wc1. Nothing of wepppy-cicd is on such a host.
 *
 * legacySnapshot() reads back what a test compares before and after an adoption: each secret
 * file's size and sha256 (never its bytes), the volumes and when they were made, row count and
 * digest of the seeded table, the Redis keys and values' digest, the run directory's listing
 * digest. Secret values are generated here, go to the host on ssh's stdin and are never printed.
 */
import { randomBytes } from "node:crypto";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { secretsInDirectory } from "../render/composeFile";
import { ISSUED_ELSEWHERE } from "../render/composeLayout";
import { hosts, imagesDir, referenceDir } from "./config";
import { shellJoin } from "./commands";
import { parseCompose, transformCompose } from "./composeTransform";
import { sleep } from "./exec";
import { hostLimits, imageSubstitutions, readState } from "./index";
import { loginOnHost } from "./stacks";
import { putFile, sshRun } from "./ssh";

type Log = (line: string) => void;

/** wctl's local image names for what wepppy builds on its hosts (the compose file's defaults). */
export const WCTL_IMAGES = ["wepppy:latest", "wepppy-status:latest", "wepppy-preflight:latest", "wepppy-cap:latest", "weppcloudr:latest"];

/** The host directory the prod compose binds for profile-playback (PROFILE_PLAYBACK_DATA_DIR's default); docker makes it at the first up. */
const PLAYBACK_DATA = "/workdir/wepppy-test-engine-data";

/** The seeded table and the Redis databases wepppy uses (rq 9, status 2, preflight 0). */
export const LEGACY_TABLE = "legacy_runs";
export const REDIS_DBS = [0, 2, 9];

export interface LegacyOptions {
  /** The checkout (wepppy's repository root); docker/ is inside it. Default /workdir/wepppy. */
  dir?: string;
  /** Compose project name wctl used (-p). Default wepppy. */
  project?: string;
  /** The compose file wctl runs (from wepppy's reference files). Default docker-compose.prod.yml. */
  compose?: string;
  /** Extra .env lines (KEY=value), e.g. values a host keeps there today. */
  env?: Record<string, string>;
  /** The stand-in build tagged as wctl's local images. Default rig-b. */
  build?: string;
  /** Rows to write to Postgres. Default 25. */
  rows?: number;
  /** Take a previous seeding (and any wepppy-cicd deployment) off the host first. */
  replace?: boolean;
  log?: Log;
}

export interface LegacySnapshot {
  host: string;
  project: string;
  /** The checkout and its docker/ directory (the compose project's working directory). */
  checkout: string;
  dockerDir: string;
  composeFiles: string[];
  /** Running services of the project -> image as configured. */
  services: Record<string, string>;
  volumes: Array<{ name: string; createdAt: string }>;
  /** secrets/<name>: size and sha256 of the bytes (comparable byte for byte; never the bytes). */
  secrets: Array<{ name: string; bytes: number; sha256: string }>;
  /** The keys of docker/.env (never its values). */
  envKeys: string[];
  postgres: { table: string; rows: number; digest: string };
  redis: { keys: Record<string, number>; digest: string };
  runDir: { path: string; files: number; digest: string };
}

export interface LegacySeedResult extends LegacySnapshot {
  ok: true;
  images: string[];
  seconds: number;
}

function rigHost(name: string): void {
  if (!hosts.some((h) => h.name === name)) throw new Error(`no rig host named ${name} (have: ${hosts.map((h) => h.name).join(", ")})`);
}

async function onHost(host: string, script: string, what: string, opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<string> {
  const r = await sshRun(host, { script }, { timeoutMs: opts.timeoutMs ?? 300_000, input: opts.input });
  if (r.code !== 0) throw new Error(`${host}: ${what} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-6).join("\n")}`);
  return r.stdout;
}

const PLAIN = /^\/(?:[A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]+$/;

function resolved(opts: LegacyOptions) {
  const checkout = opts.dir ?? "/workdir/wepppy";
  const project = opts.project ?? "wepppy";
  const compose = opts.compose ?? "docker-compose.prod.yml";
  if (!PLAIN.test(checkout)) throw new Error(`--dir expects an absolute path of plain segments, got ${JSON.stringify(checkout)}`);
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) throw new Error(`--project expects a compose project name (lower case, digits, - and _), got ${JSON.stringify(project)}`);
  if (!/^[A-Za-z0-9._-]+\.ya?ml$/.test(compose)) throw new Error(`--compose expects a compose file name, got ${JSON.stringify(compose)}`);
  return { checkout, dockerDir: `${checkout}/docker`, project, compose, runDir: `/wc1/runs/le/legacy-${project}` };
}

/** The id of the project's running container of a service (empty when none), as shell text. */
function containerOf(service: string): string {
  return `$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=${service} | head -n 1)`;
}

/** What legacySnapshot reads, one tab-separated record a line; secrets only as size and sha256. */
const SNAPSHOT_SCRIPT = (table: string) => `set -u -o pipefail
checkout=$1 project=$2 run=$3
cd "$checkout/docker" || exit 1
for f in $(sudo -n find secrets -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%f\\n' 2>/dev/null | LC_ALL=C sort); do
  printf 'secret\\t%s\\t%s\\t%s\\n' "$f" "$(sudo -n stat -c %s -- "secrets/$f")" "$(sudo -n sha256sum -- "secrets/$f" | cut -d' ' -f1)"
done
if [ -f .env ]; then sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/envkey\\t\\1/p' .env; fi
docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Label "com.docker.compose.service"}}\t{{.Image}}' | sed 's/^/service\\t/'
vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$project")
if [ -n "$vols" ]; then docker volume inspect --format '{{.Name}}\t{{.CreatedAt}}' $vols | sed 's/^/volume\\t/'; fi
pg=${containerOf("postgres")}
if [ -n "$pg" ]; then
  docker exec -i "$pg" sh -c 'PGPASSWORD="$(cat /run/secrets/postgres_password)" exec psql -h 127.0.0.1 -U wepppy -d wepppy -tAq -v ON_ERROR_STOP=1' <<'SQL' | sed 's/^/postgres\\t/'
SELECT count(*) || chr(9) || coalesce(md5(string_agg(runid || ':' || owner || ':' || created::text, ',' ORDER BY runid)), '-') FROM ${table};
SQL
fi
rd=${containerOf("redis")}
if [ -n "$rd" ]; then
  for db in ${REDIS_DBS.join(" ")}; do
    docker exec -i "$rd" sh -c 'export REDISCLI_AUTH="$(cat /run/secrets/redis_password)"; redis-cli -n "$1" --scan | LC_ALL=C sort | while IFS= read -r k; do printf "%s\\t%s\\n" "$k" "$(redis-cli -n "$1" --raw GET "$k" | sha256sum | cut -d" " -f1)"; done' sh "$db" | sed "s/^/redis\\t$db\\t/"
  done
fi
if [ -d "$run" ]; then
  files=$(find "$run" -type f | wc -l)
  digest=$( (cd "$run" && find . -printf '%y %m %U:%G %s %T@ %p\\n' | LC_ALL=C sort; cd "$run" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1)
  printf 'run\\t%s\\t%s\\n' "$files" "$digest"
fi
printf 'end\\n'`;

/** What a test compares before and after an adoption (see the file comment). */
export async function legacySnapshot(host: string, opts: Pick<LegacyOptions, "dir" | "project" | "compose"> = {}): Promise<LegacySnapshot> {
  rigHost(host);
  const r = resolved(opts);
  const out = await onHost(host, `bash -c ${shellJoin([SNAPSHOT_SCRIPT(LEGACY_TABLE)])} bash ${shellJoin([r.checkout, r.project, r.runDir])}`, "reading the legacy host's state");
  const lines = out.split("\n").filter(Boolean);
  if (lines[lines.length - 1] !== "end") throw new Error(`${host}: the snapshot was cut off`);
  const snap: LegacySnapshot = {
    host,
    project: r.project,
    checkout: r.checkout,
    dockerDir: r.dockerDir,
    composeFiles: [r.compose],
    services: {},
    volumes: [],
    secrets: [],
    envKeys: [],
    postgres: { table: LEGACY_TABLE, rows: -1, digest: "" },
    redis: { keys: {}, digest: "" },
    runDir: { path: r.runDir, files: 0, digest: "" },
  };
  const redisLines: string[] = [];
  for (const line of lines.slice(0, -1)) {
    const f = line.split("\t");
    if (f[0] === "secret") snap.secrets.push({ name: f[1], bytes: Number(f[2]), sha256: f[3] });
    else if (f[0] === "envkey") snap.envKeys.push(f[1]);
    else if (f[0] === "service") snap.services[f[1]] = f[2];
    else if (f[0] === "volume") snap.volumes.push({ name: f[1], createdAt: f[2] });
    else if (f[0] === "postgres") snap.postgres = { table: LEGACY_TABLE, rows: Number(f[1]), digest: f[2] };
    else if (f[0] === "redis") {
      snap.redis.keys[f[1]] = (snap.redis.keys[f[1]] ?? 0) + 1;
      redisLines.push(f.slice(1).join("\t"));
    } else if (f[0] === "run") snap.runDir = { path: r.runDir, files: Number(f[1]), digest: f[2] };
  }
  snap.volumes.sort((a, b) => a.name.localeCompare(b.name));
  snap.services = Object.fromEntries(Object.entries(snap.services).sort(([a], [b]) => a.localeCompare(b)));
  snap.redis.digest = createHash("sha256").update(redisLines.join("\n")).digest("hex");
  return snap;
}

/** Takes a seeding (its containers, volumes, networks, checkout and run dir) and any wepppy-cicd deployment off the host. */
export async function clearLegacy(host: string, opts: Pick<LegacyOptions, "dir" | "project"> = {}): Promise<void> {
  rigHost(host);
  await takeOff(host, resolved(opts));
}

async function takeOff(host: string, r: ReturnType<typeof resolved>): Promise<void> {
  await onHost(
    host,
    `set -u; project=${shellJoin([r.project])}
     docker ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r docker rm -f >/dev/null
     docker volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker volume rm >/dev/null
     docker network ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker network rm >/dev/null
     sudo -n umount /opt/wepppy-cicd/backups 2>/dev/null
     sudo -n rm -rf -- ${shellJoin([r.checkout, r.runDir, PLAYBACK_DATA])} /opt/wepppy-cicd /etc/cron.d/wepppy-backup
     sudo -n rmdir --ignore-fail-on-non-empty -- ${shellJoin([path.posix.dirname(r.runDir)])} 2>/dev/null; true`,
    "taking the previous seeding off",
  );
}

/** Seeds a rig host as wepppy's hosts run today (see the file comment). */
export async function seedLegacy(host: string, opts: LegacyOptions = {}): Promise<LegacySeedResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  rigHost(host);
  const r = resolved(opts);
  const state = readState();
  if (!state) throw new Error("the rig is not up (no .rig/state.json): npx wepppy-cicd rig up");
  const build = opts.build ?? "rig-b";
  const app = state.standins.weppcloud[build];
  if (!app) throw new Error(`no stand-in build ${build} (the rig has ${Object.keys(state.standins.weppcloud).join(", ")})`);
  const referenceText = fs.readFileSync(path.join(referenceDir, r.compose), "utf8");

  // 1. A host wctl runs has neither this seeding nor wepppy-cicd on it.
  const present = await onHost(
    host,
    `project=${shellJoin([r.project])}; docker ps -aq --filter "label=com.docker.compose.project=$project" | head -n 1; for d in ${shellJoin([r.checkout, "/opt/wepppy-cicd"])}; do [ -e "$d" ] && echo "$d"; done; true`,
    "looking for a previous seeding",
  );
  if (present.trim()) {
    if (!opts.replace) {
      throw new Error(`${host} already has ${present.trim().split("\n").map((l) => (l.startsWith("/") ? l : `containers of project ${r.project}`)).join(", ")}: add --replace to take them off first (their data goes)`);
    }
    log(`${host}: taking the previous seeding and any wepppy-cicd deployment off`);
    await takeOff(host, r);
  }

  // 2. Images as wctl builds them on the host (the stand-in plays them), the rest pulled as compose would.
  log(`${host}: tagging stand-in ${build} as wctl's local images (${WCTL_IMAGES.join(", ")})`);
  await loginOnHost(host);
  await onHost(host, `set -e; docker pull -q ${shellJoin([app])} >/dev/null; for t in ${shellJoin(WCTL_IMAGES)}; do docker tag ${shellJoin([app])} "$t"; done`, "tagging the images", { timeoutMs: 600_000 });

  // 3. The checkout's docker/ as the rig can run it.
  log(`${host}: writing ${r.dockerDir} (${r.compose} adapted for compose v1, defaults.env, caddy/Caddyfile, redis-entrypoint.sh)`);
  await onHost(host, `set -e; sudo -n mkdir -p ${shellJoin([r.checkout])}; sudo -n chown "$(id -u):$(id -g)" ${shellJoin([r.checkout])}; mkdir -p ${shellJoin([`${r.dockerDir}/caddy`, `${r.dockerDir}/secrets`])}; chmod 0700 ${shellJoin([`${r.dockerDir}/secrets`])}`, "making the checkout");
  const transformed = transformCompose(referenceText, { ...(await hostLimits(host)), imageSubstitutions: imageSubstitutions(state.standins) });
  await putFile(host, `${r.dockerDir}/${r.compose}`, transformed.yaml);
  await putFile(host, `${r.dockerDir}/defaults.env`, fs.readFileSync(path.join(referenceDir, "defaults.env")));
  await putFile(host, `${r.dockerDir}/caddy/Caddyfile`, fs.readFileSync(path.join(referenceDir, "caddy", "Caddyfile")));
  await putFile(host, `${r.dockerDir}/redis-entrypoint.sh`, fs.readFileSync(path.join(imagesDir, "redis", "redis-entrypoint.sh")), "0755");
  // wctl's .env: the user's UID and GID (the deploy user: 1000, docker 993), and what the host keeps there.
  const env = { UID: "1000", GID: "993", ...(opts.env ?? {}) };
  for (const k of Object.keys(env)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`--env expects KEY=value, got key ${JSON.stringify(k)}`);
  await putFile(host, `${r.dockerDir}/.env`, Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(""), "0644");

  // 4. Secret files with random values: generated ones as `openssl rand -hex 24 > file` leaves them
  //    (a trailing newline), third-party ones as an operator pastes them (none). Bytes go on stdin.
  const names = secretsInDirectory(parseCompose(referenceText) as Record<string, unknown>).map((s) => s.file.slice("./secrets/".length));
  log(`${host}: writing ${names.length} secret files (0600, the deploy user's)`);
  for (const name of names) {
    const value = ISSUED_ELSEWHERE.has(name) ? randomBytes(18).toString("base64url") : `${randomBytes(24).toString("hex")}\n`;
    await putFile(host, `${r.dockerDir}/secrets/${name}`, value, "0600");
  }

  // 5. The stack, started as wctl starts it.
  log(`${host}: docker compose -p ${r.project} -f ${r.compose} up -d (in ${r.dockerDir}, as the deploy user)`);
  await onHost(host, `cd ${shellJoin([r.dockerDir])} && docker compose -p ${shellJoin([r.project])} -f ${shellJoin([r.compose])} up -d`, "starting the stack", { timeoutMs: 900_000 });
  await waitHealthy(host, r.project, ["postgres", "redis"], log);

  // 6. Data: rows under the existing password (over TCP, scram), Redis keys, a run directory.
  const rows = opts.rows ?? 25;
  log(`${host}: writing ${rows} rows to Postgres (${LEGACY_TABLE}), Redis keys in dbs ${REDIS_DBS.join(", ")}, run directory ${r.runDir}`);
  const inserts = Array.from({ length: rows }, (_, i) => `('legacy-${String(i + 1).padStart(3, "0")}', 'user${(i % 4) + 1}@example.test')`).join(",\n");
  await onHost(
    host,
    `project=${shellJoin([r.project])}; pg=${containerOf("postgres")}; [ -n "$pg" ] || exit 1
     docker exec -i "$pg" sh -c 'PGPASSWORD="$(cat /run/secrets/postgres_password)" exec psql -h 127.0.0.1 -U wepppy -d wepppy -q -v ON_ERROR_STOP=1'`,
    "writing rows",
    { input: `CREATE TABLE ${LEGACY_TABLE} (runid text PRIMARY KEY, owner text NOT NULL, created timestamptz NOT NULL DEFAULT date_trunc('second', now()));\nINSERT INTO ${LEGACY_TABLE} (runid, owner) VALUES\n${inserts};\n` },
  );
  const redisCommands = [
    "SELECT 9", "SET rq:worker:legacy-1 idle", "SET weppcloud:error:count 7", "SET rq:job:legacy-001 finished",
    "SELECT 2", "SET status:legacy-001 running", "SET status:error:legacy-002 timeout",
    "SELECT 0", "SET preflight:legacy-001 ok", "SET preflight:error:count 2",
    "SAVE",
  ].join("\n");
  await onHost(
    host,
    `project=${shellJoin([r.project])}; rd=${containerOf("redis")}; [ -n "$rd" ] || exit 1
     docker exec -i "$rd" sh -c 'export REDISCLI_AUTH="$(cat /run/secrets/redis_password)"; redis-cli >/dev/null'`,
    "writing Redis keys",
    { input: `${redisCommands}\n` },
  );
  await onHost(
    host,
    `set -e; run=${shellJoin([r.runDir])}; sudo -n mkdir -p "$(dirname "$run")"; sudo -n chown "$(id -u):$(id -g)" /wc1/runs "$(dirname "$run")"; mkdir -p "$run/wepp/runs" "$run/climate"
     printf '[general]\\nname = legacy\\n' > "$run/legacy.cfg"; head -c 4096 /dev/urandom > "$run/wepp/runs/p1.run"; head -c 1000 /dev/urandom > "$run/climate/cli.par"; touch -d '2024-06-01 12:00:00' "$run/legacy.cfg"`,
    "making the run directory",
  );

  const snap = await legacySnapshot(host, opts);
  log(`${host}: seeded ${Object.keys(snap.services).length} services, ${snap.volumes.length} volumes, ${snap.secrets.length} secrets, ${snap.postgres.rows} rows, ${Object.values(snap.redis.keys).reduce((a, b) => a + b, 0)} Redis keys`);
  return { ok: true, ...snap, images: WCTL_IMAGES, seconds: Math.round((Date.now() - t0) / 100) / 10 };
}

async function waitHealthy(host: string, project: string, services: string[], log: Log, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const service of services) {
    let last = "";
    for (;;) {
      const r = await sshRun(host, { script: `project=${shellJoin([project])}; id=${containerOf(service)}; [ -n "$id" ] && docker inspect --format '{{.State.Health.Status}}' "$id"` });
      last = r.stdout.trim() || r.stderr.trim();
      if (last === "healthy") break;
      if (last === "unhealthy" || Date.now() > deadline) throw new Error(`${host}: ${service} is ${last || "not running"}`);
      await sleep(2000);
    }
    log(`${host}: ${service} healthy`);
  }
}
