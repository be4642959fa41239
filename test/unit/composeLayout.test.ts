import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { parseStackConfig } from "../../config/load";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { envTemplateValues } from "../../render/deploySettings";

/** The env values the stack gives a host: the template plus the image that must be live. */
const envValues = (args: { config: Parameters<typeof envTemplateValues>[0] }, image: string): Record<string, string> => ({ ...envTemplateValues(args.config), ...(args.config.image.source === "build" ? {} : { WEPPCLOUD_IMAGE: image }) });
import { parseComposeText, readComposeDocument, secretsInDirectory } from "../../render/composeFile";
import {
  ENV_SECRET_VARIABLES,
  checkLayoutFor,
  checkSupply,
  composeLayout,
  envSafeValue,
  layoutSecretValues,
  stackSecretNames,
  unsupplied,
} from "../../render/composeLayout";
import { readEnvText } from "../../render/envFile";
import { renderEnvFile } from "../../render/hostCommands";
import { stackConfig } from "./helpers";
import { requireTool } from "../support/tools";

/*
 * Compose layouts wepppy has shipped: today's secret files (the real prod and dev files) and
 * the older env-secret layout without Caddy (test/fixtures/compose-env-secrets, derived by
 * hand from the prod file). The same stack secrets must feed both, and a file that needs a
 * value the stack lacks must be refused naming file, service and variable. Where it can,
 * the check is docker-compose's own reading of the result.
 */

type Json = Record<string, any>;

const READ = new Map<string, Json>();
/** wepppy's real file, read once (nothing here changes a document). */
const REAL = (name: string) => {
  if (!READ.has(name)) READ.set(name, readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, name)));
  return { name, doc: READ.get(name)! };
};
const FIXTURE_DIR = path.join(PROJECT_ROOT, "test", "fixtures", "compose-env-secrets");
const FIXTURE = () => ({ name: "docker-compose.prod.yml", doc: readComposeDocument(path.join(FIXTURE_DIR, "docker-compose.prod.yml")) });
const DEFAULTS = fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, "defaults.env"), "utf8");

/** Recognisable stand-in values for every stack secret, so that a leak can be found. */
function stackValues(names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, `PLACEHOLDER${n.replace(/[^a-z]/g, "")}0x1f`]));
}

const testprod = () => parseStackConfig("testprod", stackConfig("testprod").values);
/** What the stack's .env defines for a registry stack: defaults.env under the stack's env values. */
function registryEnv(): Record<string, string> {
  return { ...readEnvText(DEFAULTS).values, ...envValues({ config: testprod() }, "ghcr.io/rogerlew/wepppy@sha256:" + "a".repeat(64)) };
}

function fileEnvEntries(doc: Json): Array<[string, string]> {
  return Object.values(doc.services as Json).flatMap((svc: Json) =>
    Object.entries(svc.environment ?? {}).filter((e): e is [string, string] => /_FILE$/.test(e[0]) && typeof e[1] === "string" && e[1].startsWith("/run/secrets/")),
  );
}

describe("compose layouts", () => {
  it("knows each env secret by the name today's files give its *_FILE variable", () => {
    const pairs = ["docker-compose.prod.yml", "docker-compose.dev.yml"].flatMap((f) => fileEnvEntries(REAL(f).doc));
    assert.ok(pairs.length > 40, "too few *_FILE entries to compare");
    for (const [key, value] of pairs) {
      const variable = key.slice(0, -"_FILE".length);
      assert.equal(ENV_SECRET_VARIABLES[variable], value.slice("/run/secrets/".length), `${key}: ${value}`);
    }
    // And no stale name: every secret in the table is one today's prod file has.
    const prodSecrets = new Set(secretsInDirectory(REAL("docker-compose.prod.yml").doc).map((s) => s.name));
    for (const secret of Object.values(ENV_SECRET_VARIABLES)) assert.ok(prodSecrets.has(secret), secret);
  });

  it("recognises today's files: secret files under ./secrets/, with Caddy", () => {
    for (const name of ["docker-compose.prod.yml", "docker-compose.dev.yml"]) {
      const real = REAL(name);
      const layout = composeLayout([real]);
      assert.equal(layout.secretDelivery, "files", name);
      assert.deepEqual(layout.caddy.map((c) => c.service), ["caddy"], name);
      assert.deepEqual(layout.envSecrets, [], name);
      assert.deepEqual(stackSecretNames(layout), secretsInDirectory(real.doc).map((s) => s.name).sort(), name);
    }
    const prod = composeLayout([REAL("docker-compose.prod.yml")]);
    assert.deepEqual(prod.secretFiles.find((s) => s.name === "postgres_password")!.services.includes("rq-worker"), true);
  });

  it("recognises the older layout: secrets interpolated from .env, no Caddy", () => {
    const layout = composeLayout([FIXTURE()]);
    assert.equal(layout.secretDelivery, "env");
    assert.deepEqual(layout.caddy, []);
    assert.deepEqual(layout.secretFiles, []);
    assert.deepEqual(
      layout.envSecrets.map((e) => [e.variable, e.secret, e.uses.map((u) => u.service).join(",")]),
      [
        ["OAUTH_GITHUB_CLIENT_SECRET", "oauth_github_client_secret", "weppcloud"],
        ["POSTGRES_PASSWORD", "postgres_password", "weppcloud,rq-worker,postgres"],
        ["REDIS_PASSWORD", "redis_password", "weppcloud,rq-worker,status,redis"],
        ["SECRET_KEY", "flask_secret_key", "weppcloud,rq-worker"],
        ["SECURITY_PASSWORD_SALT", "flask_security_password_salt", "weppcloud"],
      ],
    );
    assert.deepEqual(stackSecretNames(layout), ["flask_secret_key", "flask_security_password_salt", "oauth_github_client_secret", "postgres_password", "redis_password"]);
    assert.ok(layout.notes.some((n) => /no Caddy service in docker-compose\.prod\.yml: blue\/green cannot run/.test(n)));
    assert.ok(layout.notes.some((n) => /every service that reads it as env_file \(2: docker-compose\.prod\.yml:weppcloud, docker-compose\.prod\.yml:rq-worker\)/.test(n)), layout.notes.join("\n"));
    assert.throws(() => checkLayoutFor(layout, { bluegreen: true }), /bluegreen\.enabled needs a Caddy service.*docker-compose\.prod\.yml have none/);
    checkLayoutFor(composeLayout([REAL("docker-compose.prod.yml")]), { bluegreen: true });
  });

  describe("from the same stack secrets", () => {
    const prodLayout = () => composeLayout([REAL("docker-compose.prod.yml")]);
    const oldLayout = () => composeLayout([FIXTURE()]);
    const all = () => stackValues([...new Set([...stackSecretNames(prodLayout()), ...stackSecretNames(oldLayout())])]);

    it("writes today's layout as secret files and nothing in .env", () => {
      const out = layoutSecretValues(prodLayout(), all());
      assert.deepEqual(out.env, {});
      assert.deepEqual(Object.keys(out.files).sort(), stackSecretNames(prodLayout()));
      assert.equal(out.files.postgres_password, all().postgres_password);
    });

    it("writes the older layout as .env entries, and no secret file", () => {
      const values: Record<string, string> = { ...all(), postgres_password: all().postgres_password + "\n" };
      const out = layoutSecretValues(oldLayout(), values);
      assert.deepEqual(out.files, {});
      assert.deepEqual(out.env, {
        OAUTH_GITHUB_CLIENT_SECRET: values.oauth_github_client_secret,
        POSTGRES_PASSWORD: all().postgres_password,
        REDIS_PASSWORD: values.redis_password,
        SECRET_KEY: values.flask_secret_key,
        SECURITY_PASSWORD_SALT: values.flask_security_password_salt,
      });
    });

    it("refuses, naming secret, variable and services but never the value, what .env cannot carry", () => {
      const hostile = "pa ss'$(id)#";
      let message = "";
      assert.throws(
        () => layoutSecretValues(oldLayout(), { ...all(), flask_secret_key: hostile }),
        (err: Error) => ((message = err.message), /service weppcloud.*service rq-worker: the stack secret flask_secret_key cannot be written to \.env as SECRET_KEY/.test(err.message)),
      );
      assert.ok(!message.includes(hostile) && !message.includes("pa ss"), "the value is in the error");
      const { postgres_password: _, ...without } = all();
      assert.throws(() => layoutSecretValues(oldLayout(), without), /service postgres: POSTGRES_PASSWORD needs the stack secret postgres_password, which has no value/);
      assert.throws(() => layoutSecretValues(prodLayout(), without), /secret postgres_password \(\.\/secrets\/postgres_password, mounted by .*postgres.*\) has no value/);
      assert.equal(envSafeValue("abcDEF123+/=\n"), "abcDEF123+/=");
      for (const bad of ["a b", "a\nb", 'a"b', "a$b", "a#b", "a\\b", "é"]) assert.equal(envSafeValue(bad), undefined, JSON.stringify(bad));
    });

    it("gives docker-compose the stack's secrets where the older layout reads them (compose's own reading)", function () {
      requireTool(this, "docker-compose (v1)", ["sh", "-c", "command -v docker-compose"]); // its own start costs 0.8 s
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-layout-"));
      try {
        fs.copyFileSync(path.join(FIXTURE_DIR, "docker-compose.prod.yml"), path.join(dir, "docker-compose.yml"));
        fs.writeFileSync(path.join(dir, "defaults.env"), DEFAULTS);
        const values = all();
        const { env } = layoutSecretValues(oldLayout(), values);
        fs.writeFileSync(path.join(dir, ".env"), renderEnvFile(DEFAULTS, { ...envValues({ config: testprod() }, "reg.example/wepppy@sha256:" + "b".repeat(64)), ...env }));
        const run = spawnSync("docker-compose", ["-p", "layoutcheck", "config"], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, encoding: "utf8" });
        assert.equal(run.status, 0, run.stderr);
        assert.doesNotMatch(run.stderr, /variable is not set/);
        const s = (parse(run.stdout) as Json).services;
        assert.equal(s.weppcloud.environment.SECRET_KEY, values.flask_secret_key);
        assert.equal(s.weppcloud.environment.SECURITY_PASSWORD_SALT, values.flask_security_password_salt);
        assert.equal(s.postgres.environment.POSTGRES_PASSWORD, values.postgres_password);
        assert.equal(s["rq-worker"].environment.REDIS_URL, `redis://:${values.redis_password}@redis:6379/9`);
        assert.equal(s.status.environment.STATUS_REDIS_PASSWORD, values.redis_password);
        assert.equal(s.weppcloud.image, "reg.example/wepppy@sha256:" + "b".repeat(64));

        // Without the Postgres password compose itself refuses, as checkSupply does before it.
        const { POSTGRES_PASSWORD: _, ...rest } = env;
        fs.writeFileSync(path.join(dir, ".env"), renderEnvFile(DEFAULTS, rest));
        const refused = spawnSync("docker-compose", ["-p", "layoutcheck", "config", "-q"], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, encoding: "utf8" });
        assert.notEqual(refused.status, 0);
        assert.match(refused.stderr, /set POSTGRES_PASSWORD in \.env/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("what the stack cannot supply is refused before any host command", () => {
    const names = (layout: ReturnType<typeof composeLayout>) => stackSecretNames(layout);

    it("accepts the older layout from testprod's env values and its secrets", () => {
      const layout = composeLayout([FIXTURE()]);
      checkSupply(layout, { env: registryEnv(), secrets: names(layout) });
    });

    it("names file, service and variable of every use the stack lacks", () => {
      const layout = composeLayout([REAL("docker-compose.prod.yml")]);
      const missing = unsupplied(layout, { env: registryEnv(), secrets: names(layout) });
      assert.deepEqual(
        [...new Set(missing.map((m) => `${m.service} ${m.variable}`))].sort(),
        ["cap CAP_SITE_KEY", "rq-engine CAP_SITE_KEY", "weppcloud CAP_SITE_KEY", "weppcloud OAUTH_GITHUB_CLIENT_ID", "weppcloud OAUTH_GOOGLE_CLIENT_ID"],
      );
      // Compose runs a plain use with the value empty (and warns): the check returns it, for a warning, and refuses nothing.
      const unset = checkSupply(layout, { env: registryEnv(), secrets: names(layout) });
      assert.match(unset.map((m) => m.message).join("\n"), /docker-compose\.prod\.yml: service weppcloud: \$\{CAP_SITE_KEY\} has no default, and the stack supplies no value \(not in the env file's defaults, the stack's env values or its secrets\)/);
      assert.ok(unset.every((m) => !m.required));
      // Supplied (an operator's value, or adopted from the host's .env), they pass; empty is a value too.
      checkSupply(layout, { env: { ...registryEnv(), CAP_SITE_KEY: "site-key", OAUTH_GITHUB_CLIENT_ID: "", OAUTH_GOOGLE_CLIENT_ID: "" }, secrets: names(layout) });
    });

    it("refuses a required variable, an unknown secret and a missing stack secret, each saying why", () => {
      const text = fs
        .readFileSync(path.join(FIXTURE_DIR, "docker-compose.prod.yml"), "utf8")
        .replace("      OAUTH_GITHUB_CLIENT_SECRET: ${OAUTH_GITHUB_CLIENT_SECRET:-}\n", "      NEW_API_TOKEN: ${NEW_API_TOKEN:?ask the admin}\n      MAP_TILES: ${MAP_TILES_URL:?set MAP_TILES_URL}\n");
      const layout = composeLayout([{ name: "docker-compose.old.yml", doc: parseComposeText(text, "docker-compose.old.yml") }]);
      const lines = unsupplied(layout, { env: registryEnv(), secrets: names(layout).filter((n) => n !== "flask_secret_key") }).map((m) => m.message);
      assert.deepEqual(lines, [
        "docker-compose.old.yml: service weppcloud: ${SECRET_KEY} has no default, and the stack has no value for its secret flask_secret_key (set it with pulumi config set --secret --path 'wepppy-cicd:secrets.flask_secret_key')",
        "docker-compose.old.yml: service weppcloud: ${NEW_API_TOKEN:?ask the admin} requires NEW_API_TOKEN, and it looks like a secret, and the stack supplies env secrets only under the names it knows (ENV_SECRET_VARIABLES in render/composeLayout.ts)",
        "docker-compose.old.yml: service weppcloud: ${MAP_TILES_URL:?set MAP_TILES_URL} requires MAP_TILES_URL, and the stack supplies no value (not in the env file's defaults, the stack's env values or its secrets)",
        "docker-compose.old.yml: service rq-worker: ${SECRET_KEY} has no default, and the stack has no value for its secret flask_secret_key (set it with pulumi config set --secret --path 'wepppy-cicd:secrets.flask_secret_key')",
      ]);
      // Compose refuses to run without a required one: so does the check, naming each.
      assert.throws(() => checkSupply(layout, { env: registryEnv(), secrets: names(layout) }), /refused before any host command:\n {2}- docker-compose\.old\.yml: service weppcloud: \$\{NEW_API_TOKEN:\?ask the admin\} requires NEW_API_TOKEN/);
      // A required value the stack writes empty (an issued secret that is not set) is refused too.
      const req = composeLayout([{ name: "x.yml", doc: parseComposeText("services:\n  a:\n    environment:\n      K: ${OPENTOPOGRAPHY_API_KEY:?}\n      L: ${CLIMATE_ENGINE_API_KEY}\n", "x.yml") }]);
      assert.deepEqual(
        unsupplied(req, { env: {}, secrets: [], emptySecrets: ["opentopography_api_key", "climate_engine_api_key"] }).map((m) => m.variable),
        ["OPENTOPOGRAPHY_API_KEY"],
      );
    });

    it("finds that dev's env file lacks what its compose file needs (defaults.env is not rendered into it for a host build)", () => {
      const layout = composeLayout([REAL("docker-compose.dev.yml")]);
      const dev = parseStackConfig("dev", stackConfig("dev").values);
      const missing = unsupplied(layout, { env: envValues({ config: dev }, ""), secrets: names(layout) });
      assert.deepEqual([...new Set(missing.map((m) => m.variable))].sort(), ["CADDY_FILE", "CAP_SITE_KEY", "GEODATA_DIR", "WC1_DIR"]);
    });

    it("reads a nested default only where compose would", () => {
      const doc = parseComposeText("services:\n  a:\n    image: ${IMG:-${FALLBACK}}\n    command: ${MODE:+${MODE_ARGS}}\n", "n.yml");
      const layout = composeLayout([{ name: "n.yml", doc }]);
      assert.deepEqual(unsupplied(layout, { env: {}, secrets: [] }).map((m) => m.variable), ["FALLBACK"]);
      assert.deepEqual(unsupplied(layout, { env: { IMG: "x", MODE: "fast" }, secrets: [] }).map((m) => m.variable), ["MODE_ARGS"]);
    });
  });
});
