import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { BlueGreenComposeOptions, blueGreenCompose, blueGreenComposeYaml, composeYaml } from "../../render/bluegreen/compose";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import { readComposeDocument } from "../../render/composeFile";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import { transformCompose } from "../../rig/composeTransform";
import { requireTool } from "../support/tools";

/**
 * The blue/green compose transformation on wepppy's real production compose file, as the
 * program reads it (readComposeDocument: merge keys applied, as compose does), and on small
 * documents for the forms prod does not use.
 */

type Json = Record<string, any>;

const PROD = path.join(WEPPPY_REFERENCE_DIR, "docker-compose.prod.yml");
const OPTS: BlueGreenComposeOptions = { markerHostDir: "/srv/wepppy/bluegreen", logHostDir: "/srv/wepppy/caddy-log" };
const COLOURS = ["blue", "green"] as const;
const BLUE = BLUEGREEN.services.blue;
const GREEN = BLUEGREEN.services.green;

const prod = () => readComposeDocument(PROD);
/** The app service as compose sees it (the reader applies merge keys). */
const prodApp = () => (prod() as Json).services.weppcloud as Json;

function dependsOnNames(deps: unknown): string[] {
  if (Array.isArray(deps)) return deps.map(String);
  return deps && typeof deps === "object" ? Object.keys(deps) : [];
}

/** A minimal document with the shapes prod does not use: list forms and long syntax. */
function small(): Json {
  return {
    services: {
      weppcloud: {
        image: "wepppy:1",
        container_name: "weppcloud",
        hostname: "weppcloud",
        ports: [{ target: 8000, published: 8000 }],
        environment: ["A=1", "WEPPCLOUD_COLOUR=stale"],
        volumes: [{ type: "bind", source: "./data", target: "/data" }, { type: "bind", source: "./conf", target: "/conf", read_only: true }],
      },
      worker: {
        image: "wepppy:1",
        depends_on: ["redis", "weppcloud"],
        environment: ["CALLBACK=http://weppcloud:8000/hook", "OTHER=http://weppcloud:80001/"],
        volumes: ["./data:/data"],
      },
      caddy: {
        image: "caddy:2-alpine",
        ports: [{ target: 80, published: 8080 }],
        volumes: [{ type: "bind", source: "./Caddyfile", target: "/etc/caddy/Caddyfile", read_only: true }],
        depends_on: ["weppcloud"],
      },
      redis: { image: "redis" },
    },
  };
}

describe("blue/green compose transformation", () => {
  describe("on wepppy's production compose file", () => {
    it("replaces the app by two colours that keep its command, secrets, volumes, healthcheck and dependencies", () => {
      const app = prodApp();
      const { doc } = blueGreenCompose(prod(), OPTS);
      const services = doc.services as Json;
      assert.equal("weppcloud" in services, false);
      for (const colour of COLOURS) {
        const svc = services[BLUEGREEN.services[colour]];
        assert.ok(svc, `${colour} exists`);
        for (const key of ["command", "secrets", "volumes", "healthcheck", "depends_on", "ulimits", "networks", "env_file", "init"]) {
          assert.deepEqual(svc[key], app[key], `${colour}.${key}`);
        }
        // The real file's app has 13 secrets and gunicorn on 8000; guard against comparing two empties.
        assert.equal(svc.secrets.length, 13);
        assert.ok(svc.command.includes("0.0.0.0:8000"));
        assert.match(svc.image, new RegExp(`^\\$\\{${BLUEGREEN.imageVariables[colour]}:\\?[^}]+\\}$`));
        assert.deepEqual(svc.environment, { ...app.environment, [BLUEGREEN.colourVariable]: colour });
        for (const key of ["ports", "container_name", "hostname", "build"]) assert.equal(key in svc, false, `${colour} has no ${key}`);
      }
      // The colours are copies, not one object twice.
      services[BLUE].environment.X = "1";
      assert.equal(services[GREEN].environment.X, undefined);
    });

    it("leaves no service depending on or calling weppcloud, and no colour publishing a port", () => {
      const { doc, rewrites } = blueGreenCompose(prod(), OPTS);
      const services = doc.services as Json;
      for (const [name, svc] of Object.entries(services)) {
        assert.equal(dependsOnNames(svc.depends_on).includes("weppcloud"), false, `${name} depends on weppcloud`);
      }
      assert.deepEqual(services.caddy.depends_on[BLUE], { condition: "service_started" });
      assert.deepEqual(services.caddy.depends_on[GREEN], { condition: "service_started" });
      assert.deepEqual(services["profile-playback"].depends_on, {
        [BLUE]: { condition: "service_healthy" },
        [GREEN]: { condition: "service_healthy" },
      });
      // Caddy's other dependencies are kept, in order.
      assert.deepEqual(Object.keys(services.caddy.depends_on).slice(0, 3), [BLUE, GREEN, "fcgiwrap"]);
      assert.equal(services["profile-playback"].environment.PROFILE_PLAYBACK_BASE_URL, "${PROFILE_PLAYBACK_BASE_URL:-http://caddy:8080/weppcloud}");
      assert.ok(rewrites.some((r) => r.startsWith("profile-playback.environment.PROFILE_PLAYBACK_BASE_URL:")));
      assert.doesNotMatch(JSON.stringify(doc), /(?<![\w.-])weppcloud:8000/);
      for (const colour of COLOURS) assert.equal(services[BLUEGREEN.services[colour]].ports, undefined);
    });

    it("gives Caddy the blue/green Caddyfile, the marker directory read-only and the access-log directory", () => {
      const caddy = (blueGreenCompose(prod(), OPTS).doc.services as Json).caddy;
      assert.deepEqual(caddy.volumes, [
        "./caddy/bluegreen:/etc/caddy:ro",
        "../wepppy/weppcloud/static:/srv/weppcloud/static:ro",
        "../wepppy/weppcloud/routes/usersum/static:/srv/usersum/static:ro",
        "/srv/wepppy/bluegreen:/srv/bluegreen:ro",
        `/srv/wepppy/caddy-log:${BLUEGREEN.accessLogDir}`,
      ]);
      const other = (blueGreenCompose(prod(), { ...OPTS, caddyDir: "./bg" }).doc.services as Json).caddy;
      assert.equal(other.volumes[0], "./bg:/etc/caddy:ro");
    });

    it("refuses a Caddy that mounts something else under /etc/caddy: the Caddyfile's directory takes its place", () => {
      for (const extra of ["./certs:/etc/caddy/certs:ro", "./all:/etc/caddy"]) {
        const doc = prod();
        const caddy = (doc.services as Record<string, Json>).caddy;
        caddy.volumes = [...(caddy.volumes as string[]), extra];
        assert.throws(() => blueGreenCompose(doc, OPTS), new RegExp(`mounts ${extra.split(":")[1]} as well; .* nothing else may be mounted in it`));
      }
    });

    it("warns about what the two colours now share or lose", () => {
      const { warnings } = blueGreenCompose(prod(), OPTS);
      const about = (s: string) => warnings.filter((w) => w.includes(s));
      assert.equal(about("../wepppy/weppcloud/static:/srv/weppcloud/static").length, 1);
      assert.match(about("/srv/weppcloud/static")[0], /STATIC_ASSET_SYNC_DIR.*only weppcloud wrote it/);
      assert.match(about("/wc1:/wc1")[0], /already shared read-write with fcgiwrap/);
      assert.equal(about("published ${WEPPCLOUD_PORT:-8000}:8000").length, 1);
      assert.equal(about("PROFILE_PLAYBACK_BASE_URL set in the project's .env").length, 1);
      assert.equal(about("profile-playback depends on both colours").length, 1);
    });

    it("does not change its input, and refuses a document whose merge keys were not applied", () => {
      const input = prod();
      const before = structuredClone(input);
      const out = blueGreenCompose(input, OPTS).doc;
      assert.deepEqual(input, before);
      assert.ok("weppcloud" in (input.services as Json));
      assert.ok("weppcloud-blue" in (out.services as Json));
      // Read without merge keys, `<<` is an ordinary key: the app would lose its depends_on and most of its environment.
      const unmerged = parse(fs.readFileSync(PROD, "utf8"), { maxAliasCount: -1 }) as Json;
      assert.ok("<<" in unmerged.services.weppcloud);
      assert.throws(() => blueGreenCompose(unmerged, OPTS), /blue\/green compose: compose file has an unapplied merge key \(<<\) at x-wepppy-service; read compose files with readComposeDocument/);
    });

    it("serialises to YAML that reads back the same, with no anchors and shell text kept verbatim", () => {
      const input = prod();
      const text = blueGreenComposeYaml(input, OPTS);
      const back = parse(text) as Json;
      assert.deepEqual(blueGreenCompose(input, OPTS).doc, back);
      assert.doesNotMatch(text, /<<:|^\s*[\w-]+: [&*]/m);
      const src = input as Json;
      for (const [svc, key] of [["redis", "healthcheck"], ["postgres", "healthcheck"], ["postgres-backup", "healthcheck"], ["postgres-backup", "command"]]) {
        assert.deepEqual(back.services[svc][key], src.services[svc][key], `${svc}.${key}`);
      }
      assert.ok(back.services["postgres-backup"].command[2].includes('password="$$(cat /run/secrets/postgres_password)"'));
      assert.ok(back.services.redis.healthcheck.test[1].includes('"$(cat /run/secrets/redis_password)"'));
      // An object reached twice (what an unresolved alias parses to) is written out twice, not as an anchor.
      const shared = { condition: "service_started" };
      assert.doesNotMatch(composeYaml({ services: { a: { depends_on: { b: shared, c: shared } } } }), /[&*]/);
    });

    it("is accepted by docker-compose v1 (config -q) with the image variables set, and refused without", function () {
      requireTool(this, "docker-compose (v1)", ["sh", "-c", "command -v docker-compose"]); // its own start costs 0.8 s
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bluegreen-compose-"));
      try {
        // Compose v1 rejects `$(` (the redis healthcheck) whatever blue/green does; the rig's own step escapes it.
        const bg = blueGreenCompose(prod(), OPTS).doc;
        const file = path.join(dir, "docker-compose.yml");
        fs.writeFileSync(file, transformCompose(bg, { cpus: 1, maxNofile: 1, imageSubstitutions: {} }, ["escape-command-substitution"]).yaml);
        const env = {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: dir,
          WEPPPY_ENV_FILE: path.join(WEPPPY_REFERENCE_DIR, "defaults.env"),
          [BLUEGREEN.imageVariables.blue]: "registry.example/wepppy@sha256:" + "1".repeat(64),
          [BLUEGREEN.imageVariables.green]: "registry.example/wepppy@sha256:" + "2".repeat(64),
        };
        const run = (args: string[], e: Record<string, string>) => spawnSync("docker-compose", ["-p", "bg", "-f", file, ...args], { cwd: dir, env: e, encoding: "utf8" });
        // `config --services` loads and checks the whole file as `config -q` does (one Python start fewer).
        const ok = run(["config", "--services"], env);
        assert.equal(ok.status, 0, ok.stderr);
        const names = ok.stdout.trim().split("\n");
        assert.ok(names.includes(BLUE) && names.includes(GREEN) && !names.includes("weppcloud"), names.join(" "));
        const missing: Record<string, string> = { ...env };
        delete missing[BLUEGREEN.imageVariables.green];
        const refused = run(["config", "-q"], missing);
        assert.notEqual(refused.status, 0);
        assert.match(refused.stderr, new RegExp(`${BLUEGREEN.imageVariables.green}.*${GREEN}|set ${BLUEGREEN.imageVariables.green}`));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("on other shapes", () => {
    it("handles list forms, long volume syntax and a Caddy port other than 8080", () => {
      const { doc, warnings } = blueGreenCompose(small(), OPTS);
      const s = doc.services as Json;
      assert.deepEqual(Object.keys(s), [BLUE, GREEN, "worker", "caddy", "redis"]);
      assert.deepEqual(s[BLUE].environment, ["A=1", "WEPPCLOUD_COLOUR=blue"]);
      assert.deepEqual(s[GREEN].environment, ["A=1", "WEPPCLOUD_COLOUR=green"]);
      for (const c of [BLUE, GREEN]) for (const k of ["ports", "container_name", "hostname"]) assert.equal(k in s[c], false);
      assert.deepEqual(s.worker.depends_on, ["redis", BLUE, GREEN]);
      assert.deepEqual(s.caddy.depends_on, [BLUE, GREEN]);
      // Only the app's own host:port is rewritten, through Caddy's container port (80 here).
      assert.deepEqual(s.worker.environment, ["CALLBACK=http://caddy:80/hook", "OTHER=http://weppcloud:80001/"]);
      assert.deepEqual(s.caddy.volumes[0], { type: "bind", source: "./caddy/bluegreen", target: "/etc/caddy", read_only: true });
      assert.ok(warnings.some((w) => w.includes("./data:/data") && w.includes("already shared read-write with worker")));
      assert.equal(warnings.filter((w) => w.includes("./conf")).length, 0, "read-only mounts are not shared writes");
      assert.ok(warnings.some((w) => w.includes("worker.environment[1] still names weppcloud")));
    });

    it("takes other service names and image variables", () => {
      const d = small() as Json;
      d.services.app = d.services.weppcloud;
      delete d.services.weppcloud;
      d.services.proxy = d.services.caddy;
      delete d.services.caddy;
      const { doc } = blueGreenCompose(d, { ...OPTS, appService: "app", caddyService: "proxy", imageVariables: { blue: "B_IMG", green: "G_IMG" } });
      const s = doc.services as Json;
      assert.match(s[BLUE].image, /^\$\{B_IMG:\?/);
      assert.match(s[GREEN].image, /^\$\{G_IMG:\?/);
      assert.ok(s.proxy.volumes.includes("/srv/wepppy/bluegreen:/srv/bluegreen:ro"));
      // The worker still names `weppcloud`, which here is not the app: left alone.
      assert.deepEqual(s.worker.depends_on, ["redis", "weppcloud"]);
    });

    it("refuses, saying why, what it cannot transform", () => {
      const without = (f: (d: Json) => void) => {
        const d = small();
        f(d);
        return d;
      };
      assert.throws(() => blueGreenCompose(without((d) => delete d.services.weppcloud), OPTS), /no service 'weppcloud'/);
      assert.throws(() => blueGreenCompose(without((d) => delete d.services.caddy), OPTS), /no service 'caddy'/);
      assert.throws(() => blueGreenCompose(without((d) => (d.services[GREEN] = { image: "x" })), OPTS), /weppcloud-green already exist/);
      assert.throws(() => blueGreenCompose(without((d) => (d.services.caddy.volumes = ["./x:/etc/caddy/other"])), OPTS), /mounts nothing at \/etc\/caddy\/Caddyfile/);
      assert.throws(() => blueGreenCompose(without((d) => (d.services.caddy.volumes.push("/m:/srv/bluegreen"))), OPTS), /already mounts something at \/srv\/bluegreen/);
      assert.throws(() => blueGreenCompose(without((d) => (d.services.worker.network_mode = "service:weppcloud")), OPTS), /worker\.network_mode: service:weppcloud/);
      assert.throws(() => blueGreenCompose(small(), { ...OPTS, markerHostDir: "bluegreen" }), /markerHostDir must be an absolute/);
      assert.throws(() => blueGreenCompose(small(), { ...OPTS, imageVariables: { blue: "X", green: "X" } }), /both colours/);
      // Already transformed: the colours exist, so a second run is refused rather than nesting.
      assert.throws(() => blueGreenCompose(blueGreenCompose(prod(), OPTS).doc, OPTS), /already exist/);
    });
  });
});
