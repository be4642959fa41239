import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { clearDeployment, sshRun } from "../../rig";
import { RehearsalResult, rehearse } from "../../harness/rehearsal/rehearse";
import { PROJECT_ROOT } from "../../config/paths";
import { curl, ensureRig, forgetStacks } from "./helpers";

/*
 * Issue 12, item 6, on the rig: testprod on forest1 deploying an older wepppy compose layout
 * (test/fixtures/compose-env-secrets: the secrets interpolated from .env, no Caddy, weppcloud
 * publishing its own port), then today's layout from the same stack secrets, a rollback's
 * crossing of that boundary the other way; and a compose file needing a value the stack does not
 * have, refused before any host command.
 */

const HOST = "forest1";
const PROJECT_DIR = "/opt/wepppy/docker";
const OLDER = path.join(PROJECT_ROOT, "test", "fixtures", "compose-env-secrets");
// The older layout has no Caddy: the smoke test reaches weppcloud's own port.
const NO_CADDY = { "health.smokeUrl": "http://127.0.0.1:8000" };
// The .env variables the older layout reads its secrets from, and the secret files today's layout reads them from.
const CROSSING = { SECRET_KEY: "flask_secret_key", POSTGRES_PASSWORD: "postgres_password", REDIS_PASSWORD: "redis_password" };

async function on(script: string): Promise<string> {
  const r = await sshRun(HOST, { script }, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

/** sha256 of each listed .env value, read on the host (the values never leave it). */
async function envDigests(names: string[]): Promise<Record<string, string>> {
  const out = await on(`cd ${PROJECT_DIR} && for n in ${names.join(" ")}; do printf '%s ' "$n"; sudo -n sed -n "s/^$n=//p" .env | head -n 1 | tr -d '\\n' | sha256sum | cut -d' ' -f1; done`);
  return Object.fromEntries(out.trim().split("\n").map((l) => l.split(" ")));
}

describe("older compose layouts on the rig (testprod on forest1)", function () {
  this.timeout(1_800_000);
  const log: string[] = [];
  const rehearseTestprod = (composeSource: string | undefined, set: Record<string, unknown> = {}): Promise<RehearsalResult> =>
    rehearse({ stack: "testprod", set, composeSource, log: (l) => log.push(l) });
  let older: RehearsalResult;
  let olderEnv: Record<string, string> = {};

  before(async () => {
    await ensureRig();
    await clearDeployment(HOST);
    forgetStacks(["testprod"]);
  });

  after(async () => {
    if (log.length > 0) fs.writeFileSync("/tmp/wepppy-rig-layouts.log", log.join("\n"));
    await clearDeployment(HOST).catch(() => undefined);
    forgetStacks(["testprod"]);
  });

  it("refuses a compose file needing a value the stack lacks, naming file, service and variable, before any host command", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-needs-"));
    const text = fs.readFileSync(path.join(OLDER, "docker-compose.prod.yml"), "utf8")
      .replace("      SECURITY_PASSWORD_SALT: ${SECURITY_PASSWORD_SALT}\n", "      SECURITY_PASSWORD_SALT: ${SECURITY_PASSWORD_SALT}\n      WEPPPY_LICENSE_KEY: ${WEPPPY_LICENSE_KEY:?set it in .env}\n");
    assert.match(text, /WEPPPY_LICENSE_KEY/);
    fs.writeFileSync(path.join(dir, "docker-compose.prod.yml"), text);
    const listing = () => on(`ls -la /opt 2>&1; sudo -n ls -laR /opt/wepppy /opt/wepppy-cicd 2>&1 || true`);
    const before = await listing();
    const r = await rehearseTestprod(dir, NO_CADDY);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.ok, false);
    assert.match(r.error ?? "", /docker-compose\.prod\.yml/);
    assert.match(r.error ?? "", /weppcloud/);
    assert.match(r.error ?? "", /WEPPPY_LICENSE_KEY/);
    assert.equal(r.hostCommandsRun, 0, "a host command ran");
    assert.equal(await listing(), before, "the host changed");
  });

  it("deploys the older layout: the secrets in .env (0600), none as files, the app on its own port", async () => {
    older = await rehearseTestprod(OLDER, NO_CADDY);
    assert.ok(older.ok, `${older.error}\n${log.slice(-30).join("\n")}`);
    assert.match(await on(`sudo -n stat -c '%a' ${PROJECT_DIR}/.env`), /^600$/m);
    olderEnv = await envDigests(Object.keys(CROSSING));
    const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for (const [name, digest] of Object.entries(olderEnv)) assert.notEqual(digest, empty, `.env has no ${name}`);
    const files = await on(`sudo -n find ${PROJECT_DIR}/secrets -type f ! -name '.*' 2>/dev/null | wc -l`);
    assert.equal(files.trim(), "0", "the older layout reads no secret file");
    const version = await curl(["-fsS", `http://10.213.0.12:8000/weppcloud/version`]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(JSON.parse(version.stdout).build, "rig-a");
  });

  it("gives the containers those values (compose's own interpolation), and Postgres takes its password", async () => {
    const inApp = await on(`c=$(docker ps -q --filter label=com.docker.compose.service=weppcloud | head -n 1); docker exec "$c" sh -c 'printf %s "$SECRET_KEY"' | sha256sum | cut -d' ' -f1`);
    assert.equal(inApp.trim(), olderEnv.SECRET_KEY);
    const login = await on(`cd ${PROJECT_DIR}; export PGPASSWORD="$(sudo -n sed -n 's/^POSTGRES_PASSWORD=//p' .env | head -n 1)"; c=$(docker ps -q --filter label=com.docker.compose.service=postgres | head -n 1); docker exec -e PGPASSWORD "$c" psql -h 127.0.0.1 -U wepppy -d wepppy -tAc 'select 1'`);
    assert.equal(login.trim(), "1");
  });

  it("then deploys today's layout from the same stack secrets: each file holds what .env held, and the database still opens", async () => {
    const today = await rehearseTestprod(undefined);
    assert.ok(today.ok, `${today.error}\n${log.slice(-30).join("\n")}`);
    const files = await on(`cd ${PROJECT_DIR}/secrets && for f in ${Object.values(CROSSING).join(" ")}; do printf '%s ' "$f"; sudo -n cat "$f" | tr -d '\\n' | sha256sum | cut -d' ' -f1; done`);
    const digests = Object.fromEntries(files.trim().split("\n").map((l) => l.split(" ")));
    for (const [variable, file] of Object.entries(CROSSING)) assert.equal(digests[file], olderEnv[variable], `secrets/${file} differs from .env's ${variable}`);
    const login = await on(`export PGPASSWORD="$(sudo -n cat ${PROJECT_DIR}/secrets/postgres_password)"; c=$(docker ps -q --filter label=com.docker.compose.service=postgres | head -n 1); docker exec -e PGPASSWORD "$c" psql -h 127.0.0.1 -U wepppy -d wepppy -tAc 'select 1'`);
    assert.equal(login.trim(), "1");
  });
});
