import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";
import {
  parseComposeText,
  readComposeDocument,
  relativeMounts,
  relativeMountsBy,
  serviceNames,
  serviceSecrets,
  servicesWithSecret,
  volumeSource,
} from "../../render/composeFile";
import { interpolations, stringsIn } from "../../render/composeInterpolation";
import { requireTool } from "../support/tools";

/*
 * The compose reader everything shares, against compose itself: Debian's docker-compose 1.29
 * (v1) parses wepppy's real prod and dev files and prints them with `config`; the reader's
 * services, each service's secrets, the files mounted from beside the compose file and the
 * variables compose warns about must be what compose sees (merge keys applied).
 */

type Json = Record<string, any>;

const FILES = ["docker-compose.prod.yml", "docker-compose.dev.yml"];

/**
 * The copy compose v1 is given, adapted as text so that anchors and merge keys stay for compose
 * to apply: `$(` becomes `$$(` (v1 refuses `$(` in any value, "Invalid interpolation format";
 * v2 passes it through; the same rule as the rig's escape-command-substitution step), and the
 * dev file's fcgiwrap loses `build.additional_contexts` (v1 rejects the key; it only feeds a build).
 * Neither touches a service name, a secret, a volume or a variable.
 */
function adaptedForV1(text: string): { text: string; changedLines: number } {
  const out = text.replace(/(?<!\$)\$\(/g, "$$$$(").replace(/^( *)additional_contexts:\n(?:\1 {2}.*\n)+/gm, "");
  const a = text.split("\n");
  const b = new Set(out.split("\n"));
  return { text: out, changedLines: a.filter((l) => !b.has(l)).length };
}

/** `docker-compose -f file config` in dir, with only these variables in its environment. */
function composeConfig(dir: string, file: string, vars: Record<string, string>) {
  return spawnSync("docker-compose", ["-p", "readercheck", "-f", file, "config"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...vars },
    encoding: "utf8",
  });
}

/** A secrets entry as v1's config prints it, in the reader's long form. */
function longForm(s: Json): { source: string; target?: string } {
  return s.target === undefined ? { source: s.source } : { source: s.source, target: s.target };
}

describe("the compose reader", () => {
  describe("on wepppy's real compose files, against docker-compose config", function () {
    let dir: string;
    before(function () {
      requireTool(this, "docker-compose (v1)", ["sh", "-c", "command -v docker-compose"]); // its own start costs 0.8 s
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-reader-"));
      fs.copyFileSync(path.join(WEPPPY_REFERENCE_DIR, "defaults.env"), path.join(dir, "defaults.env"));
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    for (const name of FILES) {
      it(`${name}: the same services, each with the same secrets, mounts and unset variables`, () => {
        const original = fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, name), "utf8");
        const adapted = adaptedForV1(original);
        // The adaptation is as small as claimed: prod's redis healthcheck; dev's two workers, its redis healthcheck and the two build lines.
        assert.equal(adapted.changedLines, name.includes("prod") ? 1 : 5, "the v1 adaptation changed more than it says");
        const file = path.join(dir, name);
        fs.writeFileSync(file, adapted.text);
        const doc = readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, name));

        // 1. With no variables set, compose warns about exactly the variables the reader finds used without a default.
        const bare = composeConfig(dir, file, {});
        const warned = new Set([...bare.stderr.matchAll(/The (\w+) variable is not set/g)].map((m) => m[1]));
        const found = new Set(
          ["services", "volumes", "networks", "secrets", "configs"]
            .flatMap((section) => stringsIn(doc[section], section))
            .flatMap(([, text]) => interpolations(text))
            .filter((i) => i.form === "plain" && i.guards.every((g) => g.when === "unset"))
            .map((i) => i.variable),
        );
        assert.ok(warned.size >= 5, `compose warned about too little to compare: ${[...warned]}`);
        assert.deepEqual([...found].sort(), [...warned].sort());

        // 2. With those set to harmless values, compose prints the file as it will run it.
        const vars = Object.fromEntries([...warned].map((v) => [v, "/srv/harmless"]));
        const run = composeConfig(dir, file, vars);
        assert.equal(run.status, 0, run.stderr);
        assert.doesNotMatch(run.stderr, /variable is not set/);
        const printed = parse(run.stdout) as Json;
        const services = printed.services as Record<string, Json>;

        assert.deepEqual(serviceNames(doc).sort(), Object.keys(services).sort());
        const secrets = serviceSecrets(doc);
        for (const [service, svc] of Object.entries(services)) {
          assert.deepEqual(secrets[service], (svc.secrets ?? []).map(longForm), `${name}: secrets of ${service}`);
        }
        // Compose prints bind mounts from beside the file as absolute paths under its directory.
        const beside = new Set<string>();
        for (const svc of Object.values(services)) {
          for (const v of svc.volumes ?? []) {
            const source = typeof v === "string" ? volumeSource(v) : v.type === "bind" ? v.source : undefined;
            if (typeof source === "string" && source.startsWith(dir + "/")) beside.add(source.slice(dir.length + 1));
          }
        }
        assert.deepEqual([...new Set(relativeMountsBy(doc, vars).map((m) => m.file))].sort(), [...beside].sort());
      });
    }

    it("finds discord_bot_token in the 17 services compose gives it on prod (11 without merge keys)", () => {
      const doc = readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, "docker-compose.prod.yml"));
      assert.equal(servicesWithSecret(doc, "discord_bot_token").length, 17);
      const unmerged = parse(fs.readFileSync(path.join(WEPPPY_REFERENCE_DIR, "docker-compose.prod.yml"), "utf8"), { maxAliasCount: -1 }) as Json;
      const direct = Object.values(unmerged.services as Json).filter((s: Json) => (s.secrets ?? []).some((x: any) => (x?.source ?? x) === "discord_bot_token"));
      assert.equal(direct.length, 11, "the reference file changed: the figure in issue 12 no longer applies");
    });
  });

  describe("reads as compose does", () => {
    it("gives each service its own objects, though aliases parse to shared ones", () => {
      const doc = readComposeDocument(path.join(WEPPPY_REFERENCE_DIR, "docker-compose.prod.yml")) as Json;
      const { weppcloud, browse, elevationquery, metquery } = doc.services;
      assert.deepEqual(weppcloud.secrets[1], browse.secrets[2]);
      weppcloud.secrets[1].target = "/changed";
      assert.notEqual(browse.secrets[2].target, "/changed");
      elevationquery.environment.X = "1";
      assert.equal(metquery.environment.X, undefined);
      assert.equal(metquery.environment.REDIS_PASSWORD_FILE, "/run/secrets/redis_password", "merged from x-wepppy-env");
    });

    it("keeps yes/no/on as strings (YAML 1.2, as compose v2 reads them)", () => {
      const doc = parseComposeText("services:\n  a:\n    environment:\n      X: yes\n      Y: on\n", "t.yml") as Json;
      assert.deepEqual(doc.services.a.environment, { X: "yes", Y: "on" });
    });

    it("refuses bad YAML naming the file", () => {
      assert.throws(() => parseComposeText("services:\n  a: {}\n  a: {}\n", "dup.yml"), /^Error: dup\.yml: not valid compose YAML: Map keys must be unique/);
      assert.throws(() => parseComposeText("x: &x [1]\nservices:\n  a:\n    <<: *x\n", "merge.yml"), /merge\.yml: not valid compose YAML: Merge sources must be maps/);
      assert.throws(() => parseComposeText("- a\n", "list.yml"), /list\.yml: not a compose file/);
      assert.throws(() => parseComposeText("services:\n  a: 3\n", "svc.yml"), /svc\.yml: service a must be a mapping/);
    });
  });

  describe("files mounted from beside the compose file", () => {
    it("are the ./ sources, with defaults and given values applied", () => {
      const doc = parseComposeText(
        [
          "services:",
          "  a:",
          "    volumes:",
          "      - ./entry.sh:/entry.sh:ro",
          "      - ${CADDY_FILE:-./caddy/Caddyfile}:/etc/caddy/Caddyfile:ro",
          "      - ${OTHER}:/other",
          "      - ../checkout/static:/static",
          "      - data:/data",
          "      - type: bind",
          "        source: ./conf/./app.ini",
          "        target: /app.ini",
          "",
        ].join("\n"),
        "t.yml",
      );
      assert.deepEqual(relativeMounts(doc), ["caddy/Caddyfile", "conf/app.ini", "entry.sh"]);
      assert.deepEqual(
        relativeMountsBy(doc, { OTHER: "./other.txt", CADDY_FILE: "/abs/Caddyfile" }).map((m) => m.file).sort(),
        ["conf/app.ini", "entry.sh", "other.txt"],
      );
    });

    it("may not leave the compose directory (./../..), in any syntax", () => {
      const bad = [
        "      - ./../../../../home/roger/.config/wepppy-cicd/passphrase:/srv/p:ro",
        "      - ${CADDY_FILE:-./../Caddyfile}:/etc/caddy/Caddyfile:ro",
        "      - type: bind\n        source: ./caddy/../../x\n        target: /x",
      ];
      for (const line of bad) {
        const text = `services:\n  caddy:\n    image: caddy\n    volumes:\n${line}\n`;
        assert.throws(() => parseComposeText(text, "evil.yml"), /^Error: evil\.yml: service caddy bind-mounts \.\/.*\.\..*, which leaves the compose file's directory/, line);
      }
    });

    it("may not be a symlink that leads out of the compose directory", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-symlink-"));
      try {
        fs.writeFileSync(path.join(dir, "inside.txt"), "x");
        fs.symlinkSync(path.join(dir, "inside.txt"), path.join(dir, "ok-link"));
        fs.writeFileSync(path.join(dir, "ok.yml"), "services:\n  a:\n    volumes:\n      - ./ok-link:/x:ro\n");
        assert.deepEqual(relativeMounts(readComposeDocument(path.join(dir, "ok.yml"))), ["ok-link"]);
        fs.symlinkSync("/etc/hostname", path.join(dir, "out-link"));
        fs.writeFileSync(path.join(dir, "bad.yml"), "services:\n  a:\n    volumes:\n      - ./out-link:/x:ro\n");
        assert.throws(() => readComposeDocument(path.join(dir, "bad.yml")), /bad\.yml: service a mounts \.\/out-link, which resolves \(through a symlink\) to \/etc\/hostname, outside/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
