import { strict as assert } from "node:assert";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import * as fs from "node:fs";
import * as path from "node:path";
import { inspect } from "node:util";
import { NAMESPACE } from "../../config/environments";
import { parseStackConfig } from "../../config/load";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { StackConfig } from "../../config/schema";
import { envTemplateValues } from "../../render/deploySettings";

/** The env values the stack gives a host: the template plus the image that must be live. */
const envValues = (args: { config: Parameters<typeof envTemplateValues>[0] }, image: string): Record<string, string> => ({ ...envTemplateValues(args.config), ...(args.config.image.source === "build" ? {} : { WEPPCLOUD_IMAGE: image }) });
import { HostSnapshot, StackSide, configPath, planAdoption, secretConfigStdin } from "../../render/adoption";
import { composeServices, readComposeDocument, secretsInDirectory } from "../../render/composeFile";
import { readEnvText } from "../../render/envFile";
import { seal } from "../../render/sealed";
import { stackConfig } from "./helpers";

/*
 * Adoption planning on hosts as wepppy runs them today (wctl, the checkout's docker/, secret
 * files with their existing random values), and on an older host whose secrets live in .env.
 * The snapshots are what adoptCommands.ts reads; the compose files are wepppy's real ones.
 */

type Json = Record<string, any>;

const PROD_FILE = "docker-compose.prod.yml";
const prodText = fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, PROD_FILE), "utf8");
const PROD_DOC = readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, PROD_FILE));
/** Read once: planning never changes the documents it is given (the first test checks). */
const prodDoc = () => PROD_DOC;
const DEFAULTS = fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, "defaults.env"), "utf8");
const IMAGE = "ghcr.io/rogerlew/wepppy@sha256:" + "d".repeat(64);

/** Each secret as `openssl rand -hex 24 > file` leaves it: hex and a trailing newline. */
function hostSecret(name: string): string {
  return `HOSTVALUE${name.replace(/[^a-z]/g, "")}0123456789abcdef\n`;
}

function config(stack: string, overrides: Record<string, unknown> = {}, env?: Record<string, string>): StackConfig {
  const c = parseStackConfig(stack, stackConfig(stack, overrides).values);
  // compose.env is the section adoption fills (not in the schema yet; see the report).
  if (env) (c.compose as Json).env = env;
  return c;
}

function side(cfg: StackConfig, stack = "testprod", files: Array<{ name: string; doc: Json }> = [{ name: PROD_FILE, doc: prodDoc() }]): StackSide {
  const building = cfg.image.source === "build";
  return {
    stack,
    config: cfg,
    compose: files,
    envFile: { ...(building ? {} : readEnvText(DEFAULTS).values), ...envValues({ config: cfg }, IMAGE) },
  };
}

/** forest1 today: wctl's project in the checkout's docker/, every prod service up on images built on the host. */
function todaysHost(over: Partial<HostSnapshot> = {}, envText = "UID=1000\nGID=993\nEXTERNAL_HOST=wc-prod.bearhive.duckdns.org\nCAP_SITE_KEY=site-key-1\nOAUTH_GITHUB_CLIENT_ID=gh-client\nOAUTH_GOOGLE_CLIENT_ID=\n"): HostSnapshot {
  const doc = prodDoc();
  const services: HostSnapshot["services"] = {};
  for (const [name, svc] of Object.entries(composeServices(doc))) {
    if ("profiles" in svc) continue;
    const image = String(svc.image).replace(/^\$\{[A-Z_]+:-([^}]+)\}$/, "$1");
    services[name] = { container: `wepppy-${name}-1`, image, imageId: "sha256:" + "e".repeat(64), state: "running" };
  }
  const secretFiles: HostSnapshot["secretFiles"] = {};
  for (const s of secretsInDirectory(doc)) secretFiles[s.name] = { content: seal(Buffer.from(hostSecret(s.name))), mode: "0600", uid: 1000, gid: 993 };
  return {
    host: "forest1",
    project: { name: "wepppy", workingDir: "/workdir/wepppy/docker", configFiles: [PROD_FILE] },
    checkout: { dir: "/workdir/wepppy", head: "0".repeat(40), branch: "master", dirty: 0 },
    services,
    volumes: ["redis-data", "postgres-data", "weppcloudr-renv-cache", "postgres-backups", "cap-data"].map((v) => ({ name: `wepppy_${v}`, composeName: v })),
    composeFiles: { [PROD_FILE]: prodText },
    env: { present: true, values: seal(readEnvText(envText).values), problems: [] },
    secretFiles,
    skipped: [],
    dockerGid: 993,
    ...over,
  };
}

/** The plan's config and secrets applied to the stack config, as `pulumi config set --path` would. */
function applied(cfg: StackConfig, stack: string, plan: ReturnType<typeof planAdoption>): StackConfig {
  const overrides: Record<string, unknown> = {};
  const env: Record<string, string> = { ...((cfg.compose as Json).env ?? {}) };
  for (const c of plan.config) {
    const key = c.key.slice(NAMESPACE.length + 1);
    if (key.startsWith("compose.env.")) env[key.slice("compose.env.".length)] = String(c.value);
    else overrides[key] = c.value;
  }
  const secrets = { ...cfg.secrets, ...Object.fromEntries(plan.secrets.map((s) => [s.name, s.value.reveal()])) };
  return config(stack, { ...overrides, secrets }, env);
}

describe("adoption planning", () => {
  describe("testprod on forest1 as wctl runs it today", () => {
    const cfg = () => config("testprod");
    const plan = () => planAdoption(side(cfg()), todaysHost());

    it("takes wctl's project directory and name, the host's UID/GID and the .env values the release reads", () => {
      const before = structuredClone(PROD_DOC);
      const p = plan();
      assert.deepEqual(PROD_DOC, before, "planning changed the compose document");
      assert.deepEqual(
        p.config.map((c) => [c.key, c.value]),
        [
          [`${NAMESPACE}:compose.projectDir`, "/workdir/wepppy/docker"],
          [`${NAMESPACE}:compose.env.CAP_SITE_KEY`, "site-key-1"],
          [`${NAMESPACE}:runAs.gid`, 993],
          [`${NAMESPACE}:compose.env.OAUTH_GITHUB_CLIENT_ID`, "gh-client"],
          [`${NAMESPACE}:compose.env.OAUTH_GOOGLE_CLIENT_ID`, ""],
          [`${NAMESPACE}:runAs.uid`, 1000],
        ],
      );
      assert.deepEqual(p.blocking, []);
      assert.ok(p.plan.includes("project name wepppy (same as wctl)"), p.plan.join("\n"));
      assert.ok(p.plan.includes("compose runs in /workdir/wepppy/docker (same as wctl; the stack had /opt/wepppy/docker)"));
    });

    it("adopts every secret byte for byte, trailing newline and all, as secret config", () => {
      const p = plan();
      const names = secretsInDirectory(prodDoc()).map((s) => s.name).sort();
      assert.equal(names.length, 15);
      assert.deepEqual(p.secrets.map((s) => s.key).sort(), names.map((n) => `${NAMESPACE}:secrets.${n}`));
      for (const s of p.secrets) {
        assert.equal(s.value.reveal(), hostSecret(s.name), s.name);
        assert.equal(s.from, `secrets/${s.name}`);
      }
      assert.ok(p.plan.includes("writes no secret that differs from the host's (all 15 adopted byte for byte)"), p.plan.join("\n"));
    });

    it("keeps the volumes, says which images change, and how the secret files' owner changes", () => {
      const p = plan();
      for (const v of ["wepppy_postgres-data (postgres)", "wepppy_redis-data (redis)", "wepppy_postgres-backups (postgres-backup)", "wepppy_cap-data (cap)"]) {
        assert.ok(p.plan.includes(`keeps volume ${v}`), `${v}\n${p.plan.join("\n")}`);
      }
      assert.ok(p.plan.some((l) => l.startsWith(`changes the image of weppcloud, browse, download, dtale, profile-playback, elevationquery and 9 more: wepppy:latest -> ${IMAGE}`)), p.plan.join("\n"));
      assert.ok(p.plan.includes("keeps the image of 9 services (fcgiwrap, weppcloudr, status, preflight, cap, caddy and 3 more)"));
      assert.ok(p.plan.includes("secret files become 0640 root:docker (today: 0600 1000:993)"));
      assert.ok(p.plan.some((l) => l.startsWith("copies the release's docker-compose.prod.yml, caddy/Caddyfile, redis-entrypoint.sh, defaults.env into /workdir/wepppy/docker (over the checkout's own")));
      assert.ok(p.plan.includes("services read .env instead of defaults.env as their env_file (WEPPPY_ENV_FILE=.env)"));
    });

    it("never prints a secret value: the plan as JSON, inspect and every line", () => {
      const p = plan();
      const values = secretsInDirectory(prodDoc()).map((s) => hostSecret(s.name).trim());
      for (const text of [JSON.stringify(p), inspect(p, { depth: 10 }), ...p.plan, ...p.warnings, ...p.blocking]) {
        for (const v of values) assert.ok(!text.includes(v), "a secret value is printed");
      }
    });

    it("sets nothing the second time: applied, the plan is stable", () => {
      const first = plan();
      const again = planAdoption(side(applied(cfg(), "testprod", first)), todaysHost());
      assert.deepEqual(again.config, []);
      assert.deepEqual(again.secrets, []);
      assert.deepEqual(again.blocking, []);
      assert.ok(again.plan.includes("writes no secret that differs from the host's (all 15 adopted byte for byte)"));
      assert.deepEqual(again.warnings.filter((w) => w.includes("will be refused")), [], again.warnings.join("\n"));
    });

    it("warns when a service that reads its secret files today could not read the files the stack writes", () => {
      assert.deepEqual(plan().warnings, []);
      const p = planAdoption(side(cfg()), todaysHost({ dockerGid: 994 }));
      assert.deepEqual(p.warnings, [
        "status runs as 1000:993 and reads redis_password, which it can read today; the stack writes secret files 0640 root:docker (docker is gid 994 here), which it could not (issue 12, item 5)",
        "preflight runs as 1000:993 and reads redis_password, which it can read today; the stack writes secret files 0640 root:docker (docker is gid 994 here), which it could not (issue 12, item 5)",
      ]);
      // Once secret files are written as wepppy reads them (owned by runAs, 0600), nothing is left to say.
      const owned = { ...side(cfg()), secretFiles: { mode: "0600", uid: 1000, gid: 993 } };
      assert.deepEqual(planAdoption(owned, todaysHost({ dockerGid: 994 })).warnings, []);
    });

    it("names what the first up would still refuse when the host lacks a value the release reads", () => {
      const p = planAdoption(side(cfg()), todaysHost({}, "UID=1000\nGID=993\n"));
      assert.ok(p.warnings.some((w) => w.startsWith("the first up will be refused until this is set: docker-compose.prod.yml: service weppcloud: ${CAP_SITE_KEY} has no default")), p.warnings.join("\n"));
    });
  });

  it("follows wctl's project name wherever it came from, so the volumes are the same ones", () => {
    const host = todaysHost({ project: { name: "docker", workingDir: "/workdir/wepppy/docker", configFiles: [PROD_FILE] } });
    host.volumes = host.volumes.map((v) => ({ ...v, name: v.name.replace(/^wepppy_/, "docker_") }));
    const p = planAdoption(side(config("testprod")), host);
    assert.ok(p.config.some((c) => c.key === `${NAMESPACE}:compose.projectName` && c.value === "docker"));
    assert.ok(p.plan.includes("project name docker (same as wctl; the stack had wepppy)"));
    assert.ok(p.plan.includes("keeps volume docker_postgres-data (postgres)"));
    assert.deepEqual(p.blocking, []);
  });

  it("adopts an older host's secrets from .env, for a release that reads secret files", () => {
    const envText = [
      "UID=1000",
      "GID=993",
      "CAP_SITE_KEY=k",
      "OAUTH_GITHUB_CLIENT_ID=",
      "OAUTH_GOOGLE_CLIENT_ID=",
      "SECRET_KEY=old-flask-key",
      'SECURITY_PASSWORD_SALT="old-salt"',
      "POSTGRES_PASSWORD=old-pg-password",
      "REDIS_PASSWORD=old-redis-password",
    ].join("\n");
    const oldCompose = fs.readFileSync(path.join(PROJECT_ROOT, "test/fixtures/compose-env-secrets/docker-compose.prod.yml"), "utf8");
    const host = todaysHost({ secretFiles: {}, composeFiles: { [PROD_FILE]: oldCompose } }, envText);
    const p = planAdoption(side(config("testprod")), host);
    const got = Object.fromEntries(p.secrets.map((s) => [s.name, [s.from, s.value.reveal()]]));
    assert.deepEqual(got.flask_secret_key, [".env SECRET_KEY", "old-flask-key"]);
    assert.deepEqual(got.flask_security_password_salt, [".env SECURITY_PASSWORD_SALT", "old-salt"]);
    assert.deepEqual(got.postgres_password, [".env POSTGRES_PASSWORD", "old-pg-password"]);
    assert.deepEqual(got.redis_password, [".env REDIS_PASSWORD", "old-redis-password"]);
    assert.ok(p.plan.some((l) => l.includes("drops from .env:") && l.includes("SECRET_KEY (the release reads flask_secret_key from secrets/)")));
    // The others the old host never had are generated (or written empty), which loses nothing: nothing used them.
    assert.ok(p.plan.includes("generates wepp_auth_jwt_secrets (a new random value: the host has none)"));
    assert.ok(p.plan.includes("writes oauth_google_client_secret empty (issued elsewhere and not set: that feature stays off)"));
    assert.deepEqual(p.blocking, []);
  });

  describe("refuses to call safe what would lose something", () => {
    it("a Postgres with data and no password to adopt", () => {
      const host = todaysHost();
      delete host.secretFiles.postgres_password;
      const p = planAdoption(side(config("testprod")), host);
      assert.ok(p.blocking.some((b) => b === "the host runs postgres with volume wepppy_postgres-data but no postgres_password was found (secrets/postgres_password or .env POSTGRES_PASSWORD): a generated password would not open its data"), p.blocking.join("\n"));
    });

    it("a secret that is not text, a .env value that looks secret, override files, a service with no volume", () => {
      const host = todaysHost({}, "UID=1000\nGID=993\nWEPPPY_ENV_FILE=.env\nMYSTERY_TOKEN=abc\nCAP_SITE_KEY=k\n");
      host.secretFiles.cap_secret = { content: seal(Buffer.from([0xff, 0xfe, 0x00])), mode: "0600", uid: 1000, gid: 993 };
      host.project.configFiles = [PROD_FILE, "docker-compose.prod.wepp1.yml"];
      host.volumes = host.volumes.filter((v) => v.composeName !== "redis-data");
      const p = planAdoption(side(config("testprod")), host);
      const has = (re: RegExp) => assert.ok(p.blocking.some((b) => re.test(b)), `${re}\n${p.blocking.join("\n")}`);
      has(/^secrets\/cap_secret is not UTF-8 text: Pulumi config holds text, so cap_secret cannot be adopted byte for byte$/);
      has(/^\.env MYSTERY_TOKEN looks like a secret that the stack has no place for .* the services read \.env/);
      has(/^the host runs -f docker-compose\.prod\.yml -f docker-compose\.prod\.wepp1\.yml and the stack deploys -f docker-compose\.prod\.yml/);
      has(/^the host runs redis but has no volume wepppy_redis-data: the first up would start it on a new, empty volume/);
      for (const text of [JSON.stringify(p), ...p.blocking]) assert.ok(!text.includes("abc"), "the value of MYSTERY_TOKEN is printed");
    });
  });

  it("prod with blue/green: the single weppcloud gives way to the two colours", () => {
    const cfg = config("prod", { "bluegreen.enabled": true });
    const s = side(cfg, "prod");
    s.envFile.WEPPCLOUD_IMAGE = IMAGE;
    const p = planAdoption(s, todaysHost({ host: "wepp1" }));
    assert.ok(p.plan.includes(`weppcloud (today's single app container, wepppy:latest) gives way to weppcloud-blue and weppcloud-green running ${IMAGE}; the first blue/green deploy removes it as an orphan once they run`), p.plan.join("\n"));
    assert.ok(!p.warnings.some((w) => w.startsWith("weppcloud runs on the host")));
  });

  it("prod after its first blue/green up: the stack's own -f list and the agent's .env variables are nothing to adopt", () => {
    const cfg = config("prod", { "bluegreen.enabled": true });
    const s = side(cfg, "prod");
    const base = todaysHost({ host: "wepp1" });
    const env = "UID=1000\nGID=993\nEXTERNAL_HOST=wc-prod.bearhive.duckdns.org\nCAP_SITE_KEY=site-key-1\nOAUTH_GITHUB_CLIENT_ID=gh-client\nOAUTH_GOOGLE_CLIENT_ID=\nWEPPPY_ENV_FILE=.env\nWEPPCLOUD_BLUE_IMAGE=x@sha256:" + "1".repeat(64) + "\nWEPPCLOUD_GREEN_IMAGE=x@sha256:" + "2".repeat(64) + "\nWEPPCLOUD_LIVE_COLOUR=green\n";
    const p = planAdoption(s, todaysHost({ host: "wepp1", project: { ...base.project, configFiles: [BLUEGREEN.composeFile] } }, env));
    assert.deepEqual(p.blocking, []);
    const keys = p.config.map((c) => c.key).join(" ");
    assert.doesNotMatch(keys, /WEPPCLOUD_(BLUE|GREEN)_IMAGE|WEPPCLOUD_LIVE_COLOUR/);
  });

  it("dev: builds in the developer's checkout, and says it must leave a dirty one alone", () => {
    const devDoc = readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, "docker-compose.dev.yml"));
    const cfg = config("dev", { "image.checkout": "/home/roger/wepppy" });
    const host: HostSnapshot = {
      ...todaysHost({ host: "forest" }),
      project: { name: "wepppy", workingDir: "/workdir/wepppy/docker", configFiles: ["docker-compose.dev.yml"] },
      checkout: { dir: "/workdir/wepppy", head: "f".repeat(40), branch: "feature/x", dirty: 3 },
      services: { weppcloud: { container: "weppcloud", image: "wepppy-dev", imageId: "sha256:" + "1".repeat(64), state: "running" } },
      volumes: [],
    };
    const p = planAdoption(side(cfg, "dev", [{ name: "docker-compose.dev.yml", doc: devDoc }]), host);
    assert.ok(p.config.some((c) => c.key === `${NAMESPACE}:image.checkout` && c.value === "/workdir/wepppy"));
    assert.ok(p.plan.includes("rebuilds weppcloud on the host from /home/roger/wepppy at master"), p.plan.join("\n"));
    assert.ok(p.warnings.includes(`the checkout /workdir/wepppy is on feature/x (ffffffffffff); the stack builds master: it must leave the checkout alone (issue 12, item 8)`));
    assert.ok(p.warnings.includes("the checkout /workdir/wepppy has 3 local changes; the stack must leave them as they are (issue 12, item 8)"));
    assert.ok(!p.plan.some((l) => l.startsWith("copies")), "dev runs in place: nothing is copied");
  });

  it("gives secrets to `pulumi config set --secret --path` on stdin, byte for byte", () => {
    // pulumi strips exactly one trailing newline from piped stdin (cmdutil.RemoveTrailingNewline).
    const removeTrailingNewline = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
    for (const v of ["plain", "ends in newline\n", "two\n\n", "", "\n"]) assert.equal(removeTrailingNewline(secretConfigStdin(v)), v);
    assert.equal(configPath("secrets", "postgres_password"), `${NAMESPACE}:secrets.postgres_password`);
    assert.equal(configPath("secrets", "jwt.key"), `${NAMESPACE}:secrets["jwt.key"]`);
    assert.equal(configPath("compose", "env", "CAP_SITE_KEY"), `${NAMESPACE}:compose.env.CAP_SITE_KEY`);
  });
});
