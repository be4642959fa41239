import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  clampCpuset, ComposeTransformOptions, imageRepository, parseCompose, steps, stringifyCompose, transformCompose,
} from "../../rig/composeTransform";

const referenceDir = path.resolve(__dirname, "../../../shared/reference/wepppy");
const opts: ComposeTransformOptions = {
  cpus: 2,
  maxNofile: 20000,
  imageSubstitutions: {
    postgres: "10.213.0.2:5000/wepppy-rig/postgres@sha256:" + "1".repeat(64),
    redis: "10.213.0.2:5000/wepppy-rig/redis@sha256:" + "2".repeat(64),
    caddy: "10.213.0.2:5000/wepppy-rig/caddy@sha256:" + "3".repeat(64),
    "wepppy-fcgiwrap": "10.213.0.2:5000/wepppy-rig/weppcloud@sha256:" + "4".repeat(64),
  },
};

function only(step: string, yaml: string) {
  return transformCompose(yaml, opts, [step]);
}

describe("rig compose transformation", () => {
  it("every step has a name and says why it exists", () => {
    const names = steps.map((s) => s.name);
    assert.equal(new Set(names).size, names.length);
    for (const s of steps) assert.ok(s.why.length > 40, `${s.name} explains itself`);
  });

  describe("project-name-out-of-file", () => {
    it("removes a top-level name and returns it as the project name", () => {
      const r = only("project-name-out-of-file", "name: smoke\nservices:\n  a:\n    image: x\n");
      assert.equal(r.projectName, "smoke");
      assert.equal("name" in r.doc, false);
    });
    it("leaves a file without one alone", () => {
      const r = only("project-name-out-of-file", "services:\n  a:\n    image: x\n");
      assert.equal(r.projectName, undefined);
      assert.deepEqual(r.applied[0].changes, []);
    });
  });

  describe("escape-command-substitution", () => {
    it("turns $( into $$( and leaves ${VAR}, $$VAR and $$( alone", () => {
      const r = only(
        "escape-command-substitution",
        [
          "services:",
          "  r:",
          "    healthcheck:",
          '      test: ["CMD-SHELL", "redis-cli -a \\"$(cat /run/secrets/p)\\" ping"]',
          "    command: [sh, -c, 'echo ${A:-x} $$B $$(date)']",
        ].join("\n"),
      );
      const svc = r.doc.services!.r as Record<string, any>;
      assert.equal(svc.healthcheck.test[1], 'redis-cli -a "$$(cat /run/secrets/p)" ping');
      assert.deepEqual(svc.command, ["sh", "-c", "echo ${A:-x} $$B $$(date)"]);
      assert.equal(r.applied[0].changes.length, 1);
    });
  });

  describe("drop-build-sections", () => {
    it("removes build: and keeps image:", () => {
      const r = only("drop-build-sections", "services:\n  a:\n    image: ${IMG}\n    build:\n      context: ..\n");
      assert.deepEqual(r.doc.services!.a, { image: "${IMG}" });
    });
  });

  describe("substitute-stand-in-images", () => {
    it("replaces literal images, tagged or digest-pinned, and leaves variable images", () => {
      const r = only(
        "substitute-stand-in-images",
        [
          "services:",
          "  pg: {image: 'postgres:16'}",
          "  r: {image: 'redis:8.2.1-alpine@sha256:" + "f".repeat(64) + "'}",
          "  c: {image: 'docker.io/library/caddy:2-alpine'}",
          "  w: {image: '${WEPPCLOUD_IMAGE:-wepppy:latest}'}",
          "  o: {image: 'other:1'}",
        ].join("\n"),
      );
      const s = r.doc.services as Record<string, any>;
      assert.equal(s.pg.image, opts.imageSubstitutions.postgres);
      assert.equal(s.r.image, opts.imageSubstitutions.redis);
      assert.equal(s.c.image, opts.imageSubstitutions.caddy);
      assert.equal(s.w.image, "${WEPPCLOUD_IMAGE:-wepppy:latest}");
      assert.equal(s.o.image, "other:1");
    });
    it("imageRepository strips tag, digest and docker.io/library but not a registry port", () => {
      assert.equal(imageRepository("redis:latest"), "redis");
      assert.equal(imageRepository("caddy:2.10.2-alpine@sha256:abc"), "caddy");
      assert.equal(imageRepository("localhost:5000/x/y:1"), "localhost:5000/x/y");
      assert.equal(imageRepository("wepppy-fcgiwrap"), "wepppy-fcgiwrap");
    });
  });

  describe("clamp-cpuset", () => {
    it("clamps ranges to the host's CPUs", () => {
      assert.equal(clampCpuset("0-39", 2), "0-1");
      assert.equal(clampCpuset("0,4-7", 4), "0");
      assert.equal(clampCpuset("8-15", 2), "0-1");
      assert.equal(clampCpuset("1", 1), "0");
      assert.equal(clampCpuset("0-1", 2), "0-1");
    });
    it("rewrites a service's cpuset only when it changes", () => {
      const r = only("clamp-cpuset", 'services:\n  a: {cpuset: "0-39"}\n  b: {cpuset: "0-1"}\n');
      assert.equal((r.doc.services!.a as any).cpuset, "0-1");
      assert.deepEqual(r.applied[0].changes, ["a: cpuset 0-39 -> 0-1"]);
    });
  });

  describe("clamp-nofile-ulimits", () => {
    it("clamps soft/hard and the scalar form, keeps lower limits", () => {
      const r = only(
        "clamp-nofile-ulimits",
        "services:\n  a: {ulimits: {nofile: {soft: 1000000, hard: 1000000}}}\n  b: {ulimits: {nofile: 65536}}\n  c: {ulimits: {nofile: {soft: 1024, hard: 4096}}}\n",
      );
      const s = r.doc.services as Record<string, any>;
      assert.deepEqual(s.a.ulimits.nofile, { soft: 20000, hard: 20000 });
      assert.equal(s.b.ulimits.nofile, 20000);
      assert.deepEqual(s.c.ulimits.nofile, { soft: 1024, hard: 4096 });
    });
  });

  describe("YAML as compose v1 reads it", () => {
    it("resolves merge keys and keeps YAML 1.1 booleans-as-strings quoted", () => {
      const text = 'x-e: &e\n  A: "yes"\nservices:\n  a:\n    environment:\n      <<: *e\n      B: "on"\n    restart: "no"\n';
      const out = stringifyCompose(parseCompose(text));
      const back = parseCompose(out) as any;
      assert.deepEqual(back.services.a.environment, { A: "yes", B: "on" });
      assert.equal(back.services.a.restart, "no");
      assert.match(out, /A: "yes"/);
    });
    it("does not change its input", () => {
      const doc = parseCompose('name: n\nservices:\n  a: {cpuset: "0-39", build: .}\n');
      const before = JSON.stringify(doc);
      transformCompose(doc, opts);
      assert.equal(JSON.stringify(doc), before);
    });
  });

  describe("on wepppy's real files", function () {
    before(function () {
      if (!fs.existsSync(referenceDir)) throw new Error(`reference files not found at ${referenceDir}`);
    });

    it("prod: the redis healthcheck, 0-39 cpusets, nofile limits, builds and literal images", () => {
      const r = transformCompose(fs.readFileSync(path.join(referenceDir, "docker-compose.prod.yml"), "utf8"), opts);
      const s = r.doc.services as Record<string, any>;
      assert.match(s.redis.healthcheck.test[1], /"\$\$\(cat \/run\/secrets\/redis_password\)"/);
      assert.equal(s["rq-worker"].cpuset, "0-1");
      assert.equal(s["rq-worker-batch"].cpuset, "0-1");
      assert.deepEqual(s.weppcloud.ulimits.nofile, { soft: 20000, hard: 20000 });
      for (const [name, svc] of Object.entries(s)) assert.equal("build" in svc, false, `${name} has no build`);
      assert.equal(s.postgres.image, opts.imageSubstitutions.postgres);
      assert.equal(s["postgres-backup"].image, opts.imageSubstitutions.postgres);
      assert.equal(s.redis.image, opts.imageSubstitutions.redis);
      assert.equal(s.caddy.image, opts.imageSubstitutions.caddy);
      assert.equal(s.fcgiwrap.image, opts.imageSubstitutions["wepppy-fcgiwrap"]);
      assert.equal(s.weppcloud.image, "${WEPPCLOUD_IMAGE:-wepppy:latest}");
      // The merged anchors made it through: every wepppy service has the shared environment.
      assert.equal(s.browse.environment.REDIS_PASSWORD_FILE, "/run/secrets/redis_password");
      assert.deepEqual(s["query-engine"].entrypoint.slice(0, 2), ["/opt/venv/bin/python", "/workdir/wepppy/docker/wepppyo3-interchange-preflight.py"]);
      // Nothing else left with a $( that v1 would refuse.
      assert.doesNotMatch(r.yaml, /(?<!\$)\$\(/);
    });

    it("canary-smoke: the project name and the pinned images", () => {
      const r = transformCompose(fs.readFileSync(path.join(referenceDir, "docker-compose.canary-smoke.yml"), "utf8"), opts);
      assert.equal(r.projectName, "weppcloud-canary-smoke");
      const s = r.doc.services as Record<string, any>;
      assert.equal(s.redis.image, opts.imageSubstitutions.redis);
      assert.equal(s.caddy.image, opts.imageSubstitutions.caddy);
      assert.equal(s.weppcloud.image, "${WEPPCLOUD_SMOKE_IMAGE:?Set an exact commit-tagged or digest-pinned WEPPcloud image}");
      assert.deepEqual(s.caddy.ports, ["127.0.0.1:${WEPPCLOUD_SMOKE_PORT:-18080}:8080"]);
    });
  });
});
