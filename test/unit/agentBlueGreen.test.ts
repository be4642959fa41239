import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DeployVerdict, EXIT } from "../../host/contract/records";
import { allTo } from "../../host/contract/traffic";
import { bringCaddyToFile } from "../../host/agent/caddy";
import { switchTraffic } from "../../host/agent/markers";
import { A, APP, B, BLUE, C, FakeHost, GREEN, RUNNER_PID, WORKER } from "./fixtures/fakeHost";

/*
 * Blue/green on a host in memory. The request names only the image that must be live;
 * the host's truth (marker, containers) decides what moves. Assertions are on the host:
 * markers, containers, the audit log, the lock.
 */

describe("agent: blue/green deploy", () => {
  let host: FakeHost;
  beforeEach(() => {
    host = new FakeHost({ bluegreen: true });
    host.image(A);
    host.image(B);
  });
  afterEach(() => host.cleanup());

  async function deploy(image: string, extra: Parameters<FakeHost["request"]>[2] = {}, stage: Parameters<FakeHost["stage"]>[0] = {}) {
    return host.deploy(host.request(image, host.stage(stage), extra));
  }

  async function releasedAThenB(): Promise<DeployVerdict> {
    assert.equal((await deploy(A)).code, 0);
    const r = await deploy(B, { release: { id: "r-2" } });
    assert.equal(r.code, 0, r.err.join("\n"));
    return r.verdict!;
  }

  it("a first release brings both colours up on the image; traffic stays on the default colour", async () => {
    const r = await deploy(A);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual([host.container(BLUE)?.image, host.container(GREEN)?.image, host.container(WORKER)?.image], [A, A, A]);
    assert.deepEqual(host.markers(), []);
    assert.equal(r.verdict!.live, "blue");
    assert.deepEqual(r.verdict!.images, { blue: A, green: A });
    assert.equal(r.verdict!.liveImage, A);
  });

  describe("the first release on a host serving the app as one service (wctl's)", () => {
    beforeEach(() => {
      host.running({ [APP]: "wepppy:latest", [WORKER]: "wepppy:latest", postgres: "postgres:16", redis: "redis:7", caddy: "caddy:2" });
    });

    it("starts the colour beside it and gates it, moves Caddy, and only then converges the rest and removes the single app", async () => {
      const r = await deploy(A);
      assert.equal(r.code, 0, r.err.join("\n"));
      const ups = host.calls.filter((c) => c.startsWith("compose up"));
      assert.deepEqual(ups.slice(0, 3), [`compose up --no-deps ${BLUE}`, "compose up --no-deps caddy", "compose up --remove-orphans"]);
      assert.equal(host.container(APP), undefined, "the single app is gone once the colours run");
      assert.equal(host.caddyLoaded(), host.projectFile("caddy/bluegreen/Caddyfile"), "compose recreated Caddy on the blue/green Caddyfile's directory");
      assert.deepEqual([host.container(BLUE)?.image, host.container(GREEN)?.image, host.container(WORKER)?.image], [A, A, A]);
      assert.deepEqual(host.markers(), [], "all traffic on blue, the default colour");
      assert.equal(r.verdict!.live, "blue");
    });

    it("whose colour fails its gate leaves the single app serving and Caddy as it was", async () => {
      host.image(C, { health: "never" });
      const r = await deploy(C);
      assert.notEqual(r.code, 0);
      assert.match(r.verdict!.message, /health gate on blue; weppcloud keeps serving/);
      assert.equal(host.container(APP)?.running, true);
      assert.equal(host.container(APP)?.image, "wepppy:latest");
      assert.ok(!host.calls.includes("compose up --no-deps caddy"), "Caddy was not touched");
      assert.equal(host.locked(), false);
    });
  });

  it("a new image goes to the colour not serving, traffic switches, the old colour stays warm and is due to retire", async () => {
    assert.equal((await deploy(A)).code, 0);
    const blueBefore = host.container(BLUE)!.id;
    const v = (await deploy(B, { release: { id: "r-2" } })).verdict!;
    assert.equal(v.result, "ok", v.message);
    assert.deepEqual(host.markers(), ["live-green"]);
    assert.equal(host.container(GREEN)!.image, B);
    assert.equal(host.container(BLUE)!.id, blueBefore, "the live colour was never recreated");
    assert.equal(host.container(BLUE)!.running, true, "the previous colour stays warm");
    assert.equal(host.container(WORKER)!.image, B, "the other services follow after the switch");
    assert.deepEqual([v.live, v.images], ["green", { blue: A, green: B }]);
    assert.ok(host.detached.some((d) => d.name === "wepppy-retire-blue" && d.argv[0] === "retire" && d.argv[1] === "blue"));
    const record = host.audit().pop()!;
    assert.equal(record.runId, v.runId);
    assert.equal(record.warm, undefined, "a release is not a warm switch");
    assert.equal(record.live, "green");
    assert.equal(typeof record.switchMs, "number");
    assert.match(host.env(), /^WEPPCLOUD_GREEN_IMAGE=.*$/m);
    assert.match(host.env(), /^WEPPCLOUD_LIVE_COLOUR=green$/m);
  });

  describe("Caddy before the switch (it reads its Caddyfile at start and at a reload)", () => {
    const CANARY_FILE = ":8080 {\n\t# live-blue live-green canary-green-10\n}\n";

    /** The Caddyfile the running Caddy runs, each time the traffic state changes. */
    function loadedAtEachState(): Map<string, string | undefined> {
      const seen = new Map<string, string | undefined>();
      host.runnerHook = () => {
        const m = host.markers().join() || "(default)";
        if (!seen.has(m)) seen.set(m, host.caddyLoaded());
      };
      return seen;
    }

    it("a release with the Caddyfile Caddy runs keeps the same Caddy; compose touches it only at the finish", async () => {
      assert.equal((await deploy(A)).code, 0);
      const caddyBefore = host.container("caddy")!.id;
      const before = host.calls.length;
      const r = await deploy(B, { release: { id: "r-2" } });
      assert.equal(r.code, 0, r.err.join("\n"));
      await Promise.all(host.runs);
      const calls = host.calls.slice(before);
      assert.deepEqual(calls.filter((c) => c.includes("caddy")), ["caddy reload", "compose up --no-deps caddy", "caddy reload"], "a reload (a no-op in Caddy) before the switch; compose's up-to-date check and a reload at the finish");
      assert.ok(calls.indexOf("caddy reload") < calls.findIndex((c) => c.startsWith("compose up --no-deps rq-worker") || c.startsWith("compose up --no-deps postgres")));
      assert.equal(host.container("caddy")!.id, caddyBefore);
      assert.ok(r.err.some((l) => /caddy reloaded on this release's Caddyfile/.test(l)), r.err.join("\n"));
    });

    it("a release with a new Caddyfile is loaded by a reload before traffic moves: the same container, its connections kept", async () => {
      host.settings.bluegreen!.canary = [10];
      assert.equal((await deploy(A)).code, 0);
      const caddyBefore = host.container("caddy")!.id;
      const seen = loadedAtEachState();
      const r = await deploy(B, { release: { id: "r-2" } }, { bluegreenCaddyfile: CANARY_FILE });
      assert.equal(r.code, 0, r.err.join("\n"));
      await Promise.all(host.runs);
      assert.equal(seen.get("canary-green-10"), CANARY_FILE, "Caddy ran the new file when the canary began");
      assert.equal(host.container("caddy")!.id, caddyBefore, "Caddy was not recreated");
      assert.equal(host.caddyLoaded(), CANARY_FILE);
    });

    it("an update that moves no traffic but changes the Caddyfile has Caddy reload it at the finish, the same container", async () => {
      assert.equal((await deploy(A)).code, 0);
      const caddyBefore = host.container("caddy")!.id;
      const r = await deploy(A, { release: { id: "r-2" } }, { bluegreenCaddyfile: CANARY_FILE });
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.match(r.verdict!.message, /^no traffic change/);
      await Promise.all(host.runs);
      assert.equal(host.caddyLoaded(), CANARY_FILE);
      assert.equal(host.container("caddy")!.id, caddyBefore);
    });

    it("a rollback to the warm colour leaves Caddy on the rolled-back release's Caddyfile", async () => {
      assert.equal((await deploy(A)).code, 0);
      const fileOfA = host.caddyLoaded();
      assert.equal((await deploy(B, { release: { id: "r-2" } }, { bluegreenCaddyfile: CANARY_FILE })).code, 0);
      assert.equal(host.caddyLoaded(), CANARY_FILE);
      const r = await deploy(A, { release: { id: "r-3" } });
      assert.match(r.verdict!.message, /^switched to warm blue/);
      await Promise.all(host.runs);
      assert.equal(host.caddyLoaded(), fileOfA);
    });

    it("a Caddy that cannot see the current file (mounted as a file by an earlier stack) is recreated on it before traffic moves", async () => {
      host.caddySingleFileMount = true;
      assert.equal((await deploy(A)).code, 0);
      host.caddySingleFileMount = false;
      const caddyBefore = host.container("caddy")!.id;
      host.settings.bluegreen!.canary = [10];
      const seen = loadedAtEachState();
      const r = await deploy(B, { release: { id: "r-2" } }, { bluegreenCaddyfile: CANARY_FILE });
      assert.equal(r.code, 0, r.err.join("\n"));
      assert.equal(seen.get("canary-green-10"), CANARY_FILE);
      assert.notEqual(host.container("caddy")!.id, caddyBefore);
      assert.ok(host.calls.includes("compose up --no-deps --force-recreate caddy"));
      assert.ok(r.err.some((l) => /caddy recreated on this release's Caddyfile/.test(l)), r.err.join("\n"));
    });

    it("a Caddyfile Caddy refuses to load fails the release before any traffic moves; the live release's files stay current", async () => {
      assert.equal((await deploy(A)).code, 0);
      const file = host.projectFile("caddy/bluegreen/Caddyfile");
      host.caddyReloadFails = true;
      const r = await deploy(B, { release: { id: "r-2" } }, { bluegreenCaddyfile: CANARY_FILE });
      assert.equal(r.code, 1);
      assert.deepEqual([r.verdict!.result, r.verdict!.phase, r.verdict!.live], ["failed", "caddy", "blue"]);
      assert.match(r.verdict!.reason!, /caddy could not load this release's Caddyfile \(reloaded\): .*unrecognized directive/);
      assert.deepEqual(host.markers(), []);
      assert.equal(host.projectFile("caddy/bluegreen/Caddyfile"), file);
      assert.equal(host.container(GREEN)!.running, false, "the colour that was never judged is stopped");
      assert.equal(host.locked(), false);
    });

    it("a Caddy whose admin endpoint is still starting is reloaded once it listens; a Caddyfile it refuses is tried once", async () => {
      assert.equal((await deploy(A)).code, 0);
      const caddy = host.container("caddy")!;
      const want = crypto.createHash("sha256").update(host.projectFile("caddy/bluegreen/Caddyfile")!).digest("hex");
      const agent = host.agent();
      const compose = agent.compose(host.settings, host.layout.envFile);
      caddy.adminRefusals = 3;
      const before = host.calls.length;
      assert.deepEqual(await bringCaddyToFile(agent, host.settings, compose, want), { how: "reloaded", ok: true });
      assert.equal(host.calls.slice(before).filter((c) => c === "caddy reload").length, 4);
      host.caddyReloadFails = true;
      const refused = await bringCaddyToFile(agent, host.settings, compose, want);
      assert.deepEqual([refused.ok, refused.how], [false, "reloaded"]);
      assert.match(refused.error!, /unrecognized directive/);
      assert.equal(host.calls.slice(before).filter((c) => c === "caddy reload").length, 5, "a refused Caddyfile is not tried again");
    });

    it("a Caddy the caller's compose call has just created is not reloaded: it read the current file as it started", async () => {
      assert.equal((await deploy(A)).code, 0);
      const idBefore = host.container("caddy")!.id;
      const want = crypto.createHash("sha256").update(host.projectFile("caddy/bluegreen/Caddyfile")!).digest("hex");
      const agent = host.agent();
      const compose = agent.compose(host.settings, host.layout.envFile);
      host.caddyAdminLag = 1000;
      assert.equal((await compose.up(["caddy"], { noDeps: true, forceRecreate: true })).code, 0);
      const before = host.calls.length;
      assert.deepEqual(await bringCaddyToFile(agent, host.settings, compose, want, idBefore), { how: "recreated", ok: true });
      assert.deepEqual(host.calls.slice(before).filter((c) => c.includes("caddy")), []);
    });

    it("a Caddy whose admin endpoint never answers (admin off) is recreated on the file instead", async () => {
      assert.equal((await deploy(A)).code, 0);
      const caddy = host.container("caddy")!;
      const want = crypto.createHash("sha256").update(host.projectFile("caddy/bluegreen/Caddyfile")!).digest("hex");
      const agent = host.agent();
      caddy.adminRefusals = 1000;
      assert.deepEqual(await bringCaddyToFile(agent, host.settings, agent.compose(host.settings, host.layout.envFile), want), { how: "recreated", ok: true });
      assert.notEqual(host.container("caddy")!.id, caddy.id);
      assert.equal(host.caddyLoaded(), host.projectFile("caddy/bluegreen/Caddyfile"));
    });

    it("a release switched back after Caddy loaded its new Caddyfile leaves Caddy on the live release's file again", async () => {
      host.settings.bluegreen!.canary = [10];
      assert.equal((await deploy(A)).code, 0);
      const liveFile = host.caddyLoaded();
      host.image(C, { status: 500 });
      const seen = loadedAtEachState();
      const r = await deploy(C, { skipSmoke: true }, { bluegreenCaddyfile: CANARY_FILE });
      assert.deepEqual([r.verdict!.result, r.verdict!.phase], ["failed", "canary"]);
      assert.equal(seen.get("canary-green-10"), CANARY_FILE);
      assert.equal(host.projectFile("caddy/bluegreen/Caddyfile"), liveFile);
      assert.equal(host.caddyLoaded(), liveFile, "Caddy reloaded the file that is current again");
      assert.ok(r.err.some((l) => /caddy reloaded on the live release's Caddyfile/.test(l)), r.err.join("\n"));
    });
  });

  it("the analysis window ends when its seconds are up, though its checks take time of their own", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.execMs = 450;
    const at: Record<string, number> = {};
    host.runnerHook = (e) => {
      if (/^analysis: watching/.test(e.message)) at.start = host.clock.now();
      if (/^analysis passed/.test(e.message)) at.end = host.clock.now();
    };
    const r = await deploy(B);
    assert.equal(r.code, 0, r.verdict?.reason);
    const window = host.settings.bluegreen!.analysis.seconds * 1000;
    // The last wait ends with the window; at most one round of checks (health, postgres, redis: 3 execs) may follow.
    assert.ok(at.end - at.start >= window && at.end - at.start <= window + 3 * host.execMs, `the window took ${at.end - at.start} ms of ${window}`);
  });

  it("switches back when the analysis window sees 5xx, stops the failed colour, and records one failed deploy with backMs", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.image(C, { status: 500 });
    const r = await deploy(C, { skipSmoke: true });
    assert.equal(r.code, 1);
    const v = r.verdict!;
    assert.deepEqual([v.result, v.phase, v.gate], ["failed", "analysis", "analysis"]);
    assert.match(v.reason!, /requests answered 5xx since the switch/);
    assert.deepEqual(host.markers(), [], "traffic is back on blue");
    assert.equal(host.container(GREEN)!.running, false, "the failed colour is stopped, so no retry finds it warm");
    assert.equal(typeof v.backMs, "number");
    assert.equal(v.live, "blue");
    assert.equal(v.liveImage, A);
    const records = host.audit().filter((x) => x.runId === v.runId);
    assert.equal(records.length, 1);
    assert.deepEqual([records[0].action, records[0].result, records[0].phase, records[0].backMs], ["deploy", "failed", "analysis", v.backMs]);
    assert.equal(host.container(WORKER)!.image, A, "the other services never moved");
    assert.equal(host.locked(), false);
  });

  it("walks the canary steps and switches back at the first step that answers 5xx", async () => {
    host.settings.bluegreen!.canary = [10, 50];
    assert.equal((await deploy(A)).code, 0);
    host.image(C, { status: 500 });
    const seen: string[] = [];
    host.runnerHook = () => {
      const m = host.markers().join();
      if (seen[seen.length - 1] !== m) seen.push(m);
    };
    const v = (await deploy(C, { skipSmoke: true })).verdict!;
    assert.deepEqual([v.result, v.phase], ["failed", "canary"]);
    assert.match(v.reason!, /^canary 10 %: /);
    assert.ok(seen.includes("canary-green-10") && !seen.includes("canary-green-50"), `markers seen: ${seen.join(" | ")}`);
    assert.deepEqual(host.markers(), []);
  });

  it("walks every canary step to a good release", async () => {
    host.settings.bluegreen!.canary = [10, 50];
    assert.equal((await deploy(A)).code, 0);
    const seen = new Set<string>();
    host.runnerHook = () => {
      seen.add(host.markers().join());
    };
    const v = (await deploy(B)).verdict!;
    assert.equal(v.result, "ok", v.message);
    for (const m of ["canary-green-10", "canary-green-50", "live-green"]) assert.ok(seen.has(m), `never saw ${m}`);
  });

  it("the image already live: nothing switches and the live colour is not recreated", async () => {
    await releasedAThenB();
    const green = host.container(GREEN)!.id;
    const calls = host.calls.length;
    const v = (await deploy(B, { release: { id: "r-3" } })).verdict!;
    assert.equal(v.result, "ok", v.message);
    assert.deepEqual(host.markers(), ["live-green"]);
    assert.equal(host.container(GREEN)!.id, green);
    assert.ok(!host.calls.slice(calls).some((c) => c.includes(GREEN) || c.startsWith("pull")), host.calls.slice(calls).join("\n"));
  });

  it("the warm other colour runs the image: traffic switches at once (a rollback), nothing is pulled or recreated", async () => {
    await releasedAThenB();
    const blue = host.container(BLUE)!.id;
    const calls = host.calls.length;
    const v = (await deploy(A, { release: { id: "r-1" } })).verdict!;
    assert.equal(v.result, "ok", v.message);
    assert.deepEqual(host.markers(), []);
    assert.equal(host.container(BLUE)!.id, blue);
    assert.match(v.message, /^switched to warm blue \d+ ms after the deploy started/);
    assert.ok(v.switchMs! >= 0);
    assert.equal(v.warm, true);
    const record = host.audit().pop()!;
    assert.deepEqual([record.action, record.result, record.live, record.warm, record.switchMs], ["deploy", "ok", "blue", true, v.switchMs]);
    assert.ok(!host.calls.slice(calls).some((c) => c.startsWith("pull") || c.includes(`--force-recreate ${BLUE}`)), host.calls.slice(calls).join("\n"));
    assert.equal(host.container(WORKER)!.image, A, "the workers follow the rollback");
  });

  it("switches to the warm colour in the client, before the run's container is started; the run does the rest and records the switch once", async () => {
    await releasedAThenB();
    const detach = host.launcher.detach;
    let markersAtDetach: string[] | undefined;
    host.launcher.detach = async (name, argv) => {
      markersAtDetach = host.markers();
      return detach(name, argv);
    };
    const r = await deploy(A, { release: { id: "rollback-r-1" } });
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(markersAtDetach, [], "traffic was on blue (the warm colour) before the run started");
    assert.match(r.verdict!.message, /^switched to warm blue \d+ ms after the deploy started/);
    assert.equal(r.err.filter((l) => /traffic on blue, \d+ ms after the deploy started/.test(l)).length, 1, r.err.join("\n"));
    const records = host.audit().filter((x) => x.runId === r.verdict!.runId);
    assert.deepEqual(records.map((x) => [x.action, x.result, x.live, x.warm, x.rolledBack]), [["deploy", "ok", "blue", true, B]], "the image it replaced is recorded");
    assert.equal(host.container(WORKER)!.image, A);
  });

  it("a run whose container never runs after the early switch: its client finds it dead, traffic goes back, one interrupted record, the lock released", async () => {
    await releasedAThenB();
    host.runnerNeverStarts = true;
    const r = await deploy(A, { release: { id: "r-1" } });
    assert.deepEqual([r.code, r.verdict!.result, r.verdict!.live], [1, "interrupted", "green"]);
    assert.deepEqual(host.markers(), ["live-green"]);
    assert.deepEqual(host.audit().filter((x) => x.runId === r.verdict!.runId).map((x) => x.result), ["interrupted"]);
    assert.equal(host.locked(), false);
  });

  it("a client killed between its early switch and starting the run: recover puts traffic back, one interrupted record, the lock released", async () => {
    await releasedAThenB();
    let detachReached = false;
    const detach = host.launcher.detach;
    // The run's detach never comes back (the client dies in it); later ones (recover re-arming a retire) go on.
    host.launcher.detach = async (name, argv) => {
      if (detachReached) return detach(name, argv);
      detachReached = true;
      return new Promise<void>(() => undefined);
    };
    void host.deploy(host.request(A, host.stage(), { release: { id: "r-1" } })).catch(() => undefined);
    while (!detachReached) await new Promise((r) => setImmediate(r));
    assert.deepEqual(host.markers(), [], "the client had switched to blue");
    // The client's process is gone (kill -9, SSH dropped): the lock's holder names a process that no longer runs.
    const holder = JSON.parse(fs.readFileSync(host.layout.lockHolder, "utf8"));
    fs.writeFileSync(host.layout.lockHolder, JSON.stringify({ ...holder, start: holder.start + 1 }));
    const r = await host.cli(["recover"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(JSON.parse(r.out[0]).recovered.map((x: { result: string }) => x.result), ["interrupted"]);
    assert.deepEqual(host.markers(), ["live-green"], "traffic is back on green");
    assert.equal(host.audit().filter((x) => x.result === "interrupted").length, 1);
    assert.equal(host.locked(), false);
  });

  it("a run that cannot be started after the early switch puts traffic back and says so; a later recover does not switch again", async () => {
    await releasedAThenB();
    host.launcher.detach = async () => {
      throw new Error("docker run failed");
    };
    const r = await deploy(A, { release: { id: "r-1" } });
    assert.equal(r.code, 1);
    assert.match(r.err.join("\n"), /cannot start run \S+: docker run failed; traffic is back on green/);
    assert.deepEqual(host.markers(), ["live-green"]);
    assert.equal(host.locked(), false);
    // Later someone moves traffic to blue by hand; recovering the run that never started must not move it back.
    switchTraffic(host.layout.markerDir, allTo("blue"));
    await host.cli(["recover"]);
    assert.deepEqual(host.markers(), []);
    assert.equal(host.container(BLUE)!.running, true, "the warm colour was not stopped");
  });

  it("the other colour is cold (stopped after its warm time): it gets the image and is gated before the switch", async () => {
    await releasedAThenB();
    host.containers.find((c) => c.service === BLUE)!.running = false;
    const v = (await deploy(A, { release: { id: "r-1" } })).verdict!;
    assert.equal(v.result, "ok", v.message);
    assert.match(v.message, /^released on blue/);
    assert.deepEqual(host.markers(), []);
    assert.equal(host.container(BLUE)!.running, true);
  });

  it("a secret the colours mount changed: the idle colour gets the same image with it, then traffic switches; the live one is never recreated under traffic", async () => {
    await releasedAThenB();
    const green = host.container(GREEN)!.id;
    const worker = host.container(WORKER)!.id;
    let greenRecreatedBeforeSwitch = false;
    host.runnerHook = (e) => {
      if (e.phase !== "converge" && host.container(GREEN)?.id !== green && host.markers().join() === "live-green") greenRecreatedBeforeSwitch = true;
    };
    host.rewriteSecret("postgres_password", "new-pg-secret-98765");
    const v = (await deploy(B, { release: { id: "r-3" } })).verdict!;
    assert.equal(v.result, "ok", v.message);
    assert.deepEqual(host.markers(), [], "traffic moved to blue, which has the new secret");
    assert.equal(host.container(BLUE)!.image, B);
    assert.equal(greenRecreatedBeforeSwitch, false);
    assert.ok(v.recreated.some((r) => r.service === BLUE && r.secrets.includes("postgres_password")));
    assert.ok(v.recreated.some((r) => r.service === "postgres"), "postgres follows after the switch");
    assert.equal(host.container(WORKER)!.id, worker, "the worker does not mount postgres_password");
    assert.ok(!fs.readFileSync(host.layout.auditLog, "utf8").includes("new-pg-secret-98765"));
  });

  it("another request while one runs is refused with exit 75, naming the holder; the holder keeps the lock", async () => {
    assert.equal((await deploy(A)).code, 0);
    let release!: () => void;
    host.runnerHook = (e) => (e.phase === "gate" ? new Promise<void>((r) => (release = r)) : undefined);
    const first = deploy(B, { release: { id: "r-2" } });
    while (!release) await new Promise((r) => setImmediate(r));
    host.runnerHook = undefined;
    const other = await deploy(C, { release: { id: "r-3" } });
    assert.equal(other.code, EXIT.locked);
    assert.match(other.err.join("\n"), /another run holds the lock: deploy by ci since .* \(pid \d+, run \d{8}T\d{9}Z-[0-9a-f]{8}, container wepppy-deploy-/);
    assert.equal(host.audit().pop()!.result, "refused");
    assert.ok(host.locked());
    release();
    assert.equal((await first).code, 0);
    assert.equal(host.locked(), false);
  });

  it("the same request again while it runs attaches to the run instead of starting a second", async () => {
    assert.equal((await deploy(A)).code, 0);
    let release!: () => void;
    host.runnerHook = (e) => (e.phase === "gate" ? new Promise<void>((r) => (release = r)) : undefined);
    const key = host.stage();
    const request = host.request(B, key, { release: { id: "r-2" } });
    const first = host.deploy(request);
    while (!release) await new Promise((r) => setImmediate(r));
    host.runnerHook = undefined;
    const second = host.deploy(request);
    await new Promise((r) => setImmediate(r));
    release();
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.verdict!.runId, b.verdict!.runId);
    assert.equal(host.detached.filter((d) => d.argv[0] === "run").length, 2, "one run for A, one for B");
    assert.match(b.err.join("\n"), /this request is running as .*: attaching/);
  });

  it("a verdict no client received is given to the next client with the same request, without running again", async () => {
    assert.equal((await deploy(A)).code, 0);
    const key = host.stage();
    const request = host.request(B, key, { release: { id: "r-2" } });
    const first = await host.deploy(request);
    fs.rmSync(path.join(host.layout.runsDir, first.verdict!.runId, "delivered"));
    const runs = host.detached.length;
    const again = await host.deploy(request);
    assert.equal(again.verdict!.runId, first.verdict!.runId);
    assert.equal(host.detached.length, runs);
    // Once delivered, the same request is a new deploy (a retry): it finds the image live.
    const third = await host.deploy(request);
    assert.notEqual(third.verdict!.runId, first.verdict!.runId);
  });

  it("a run that dies between the switch and its verdict: the attached client finds it dead, traffic goes back, one interrupted record", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.image(C);
    host.runnerHook = (e) => {
      if (e.phase !== "smoke" && e.phase !== "analysis") return undefined;
      // The runner's process dies here (kill -9): it never continues, its pid is gone.
      host.deadPids.add(RUNNER_PID);
      return new Promise<void>(() => undefined);
    };
    const r = await deploy(C);
    host.deadPids.clear();
    assert.equal(r.code, 1);
    assert.deepEqual([r.verdict!.result, r.verdict!.live], ["interrupted", "blue"]);
    assert.match(r.verdict!.reason!, /the run stopped during (smoke|analysis)/);
    assert.deepEqual(host.markers(), [], "traffic is back on blue");
    assert.equal(host.container(GREEN)!.running, false);
    const records = host.audit().filter((x) => x.runId === r.verdict!.runId);
    assert.deepEqual(records.map((x) => x.result), ["interrupted"]);
    assert.equal(host.locked(), false);
  });

  it("a run whose container never got to run is found dead by its client, which does not wait forever", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.runnerNeverStarts = true;
    const r = await deploy(B, { release: { id: "r-2" } });
    assert.deepEqual([r.code, r.verdict!.result, r.verdict!.phase], [1, "interrupted", "lock"]);
    assert.equal(host.locked(), false);
    assert.equal(host.container(GREEN)!.image, A, "nothing was changed");
  });

  it("recover (at boot) puts traffic back after a run that died between switch and verdict with no client", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.image(C);
    host.runnerHook = (e) => (e.phase === "smoke" ? new Promise<void>(() => undefined) : undefined);
    const key = host.stage();
    void host.deploy(host.request(C, key)).catch(() => undefined);
    while (!host.markers().includes("live-green")) await new Promise((r) => setImmediate(r));
    // The host restarts: no process of before is alive, and the client is gone too.
    host.deadPids.add(RUNNER_PID);
    const holder = JSON.parse(fs.readFileSync(host.layout.lockHolder, "utf8"));
    fs.writeFileSync(host.layout.lockHolder, JSON.stringify({ ...holder, bootId: "boot-0" }));
    host.deadPids.clear();
    const r = await host.cli(["recover"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(host.markers(), []);
    assert.equal(host.container(GREEN)!.running, false);
    assert.deepEqual(JSON.parse(r.out[0]).recovered.map((x: { result: string }) => x.result), ["interrupted"]);
    assert.equal(host.audit().filter((x) => x.result === "interrupted").length, 1);
    assert.equal(host.locked(), false);
    // A second recover finds nothing to do.
    assert.deepEqual(JSON.parse((await host.cli(["recover"])).out[0]).recovered, []);
  });

  it("a run that dies after its release was judged good is finished by recovery, not undone", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.runnerHook = (e) => {
      if (e.phase !== "converge") return undefined;
      host.deadPids.add(RUNNER_PID);
      return new Promise<void>(() => undefined);
    };
    const key = host.stage({ caddyfile: "# B\n" });
    const r = await host.deploy(host.request(B, key, { release: { id: "r-2" } }));
    // The client had the verdict when the release was judged; the run's death is found by the next invocation.
    assert.deepEqual([r.code, r.verdict!.result, r.verdict!.live], [0, "ok", "green"]);
    assert.match(r.verdict!.message, /the other services converge with the lock held/);
    assert.equal((await host.cli(["recover"])).code, 0);
    host.deadPids.clear();
    assert.match(JSON.parse(fs.readFileSync(path.join(host.layout.runsDir, r.verdict!.runId, "verdict.json"), "utf8")).message, /finished by recovery/);
    assert.equal(host.locked(), false);
    assert.deepEqual(host.markers(), ["live-green"]);
    assert.equal(JSON.parse(fs.readFileSync(host.layout.currentRelease, "utf8")).releaseKey, key);
    assert.equal(host.projectFile("caddy/Caddyfile"), "# B\n");
    assert.equal(host.container(WORKER)!.image, B);
    assert.deepEqual(host.audit().filter((x) => x.runId === r.verdict!.runId).map((x) => x.result), ["ok"]);
  });

  it("hands the client its verdict once the release is judged; the other services converge with the lock held, and a deploy meanwhile waits instead of being refused", async () => {
    assert.equal((await deploy(A)).code, 0);
    let release!: () => void;
    const converging = new Promise<void>((done) => (release = done));
    host.runnerHook = (e) => (e.phase === "converge" && e.message.startsWith("release judged good") ? converging : undefined);
    const r = await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    assert.deepEqual([r.code, r.verdict!.result, r.verdict!.live], [0, "ok", "green"], "judged: the client goes");
    assert.equal(host.container(WORKER)!.image, A, "the worker has not converged yet");
    assert.equal(host.locked(), true, "the run still holds the lock");
    host.runnerHook = undefined;
    const next = host.deploy(host.request(A, host.stage(), { release: { id: "r-3" } }));
    release();
    await Promise.all(host.runs);
    const after = await next;
    assert.equal(after.code, 0, after.err.join("\n"));
    assert.deepEqual(host.audit().filter((x) => x.action === "deploy").map((x) => x.result), ["ok", "ok", "ok"], "one record per run, none refused");
    assert.equal(host.container(WORKER)!.image, A);
  });

  it("a rollback while the release before it converges: that run's compose call is stopped, it lets go of the lock, and the rollback switches at once and converges the rest", async () => {
    assert.equal((await deploy(A)).code, 0);
    // The release's converge of the workers hangs (a slow compose) until something stops it.
    let held = 0;
    host.composeUpHook = (services) => (services.includes(WORKER) && held++ === 0 ? new Promise<void>(() => undefined) : undefined);
    const b = await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }));
    assert.deepEqual([b.code, b.verdict!.live], [0, "green"]);
    assert.equal(host.locked(), true, "B still converges");
    const r = await host.deploy(host.request(A, host.stage(), { release: { id: "rollback-20261125-100500" } }));
    assert.equal(r.code, 0, r.err.join("\n"));
    await Promise.all(host.runs);
    assert.deepEqual([r.verdict!.live, r.verdict!.warm], ["blue", true]);
    assert.deepEqual(host.markers(), []);
    assert.equal(host.container(WORKER)!.image, A, "the rollback converged the workers");
    assert.deepEqual(
      host.audit().filter((x) => x.runId === b.verdict!.runId || x.runId === r.verdict!.runId).map((x) => [x.action, x.result, x.runId === b.verdict!.runId ? "B" : "A"]),
      [["deploy", "ok", "B"], ["converge", "interrupted", "B"], ["deploy", "ok", "A"]],
    );
    assert.equal(host.locked(), false);
  });

  it("a release (not a rollback) while the one before converges waits for it: nothing is stopped", async () => {
    assert.equal((await deploy(A)).code, 0);
    let release!: () => void;
    const slow = new Promise<void>((done) => (release = done));
    let held = 0;
    host.composeUpHook = (services) => (services.includes(WORKER) && held++ === 0 ? slow : undefined);
    assert.equal((await host.deploy(host.request(B, host.stage(), { release: { id: "r-2" } }))).code, 0);
    host.image(C);
    const next = host.deploy(host.request(C, host.stage(), { release: { id: "r-3" } }));
    // A few turns of the host's clock (a second each while it waits for the lock).
    for (let i = 0; i < 20; i++) await new Promise((done) => setImmediate(done));
    assert.equal(fs.existsSync(host.layout.lockPreempt), false, "no preemption asked");
    assert.equal(host.locked(), true);
    release();
    const after = await next;
    assert.equal(after.code, 0, after.err.join("\n"));
    await Promise.all(host.runs);
    assert.deepEqual(host.audit().filter((x) => x.action === "converge"), []);
  });

  it("refuses an image that is not digest-pinned, and an ambiguous traffic state, changing nothing", async () => {
    assert.equal((await deploy(A)).code, 0);
    host.image("ghcr.io/rogerlew/wepppy:latest");
    const tag = await deploy("ghcr.io/rogerlew/wepppy:latest");
    assert.equal(tag.verdict!.result, "refused");
    assert.match(tag.verdict!.reason!, /needs a digest-pinned image/);
    fs.mkdirSync(host.layout.markerDir, { recursive: true });
    fs.writeFileSync(path.join(host.layout.markerDir, "live-green"), "");
    fs.writeFileSync(path.join(host.layout.markerDir, "canary-green-10"), "");
    const amb = await deploy(B);
    assert.equal(amb.verdict!.result, "refused");
    assert.match(amb.verdict!.reason!, /more than one traffic marker/);
    assert.equal(host.container(GREEN)!.image, A);
    assert.deepEqual(host.markers(), ["canary-green-10", "live-green"]);
  });

  it("by-hand rollback switches to the warm other colour and makes its release's files current again", async () => {
    assert.equal((await host.deploy(host.request(A, host.stage({ caddyfile: "# A\n" })))).code, 0);
    assert.equal((await host.deploy(host.request(B, host.stage({ caddyfile: "# B\n" }), { release: { id: "r-2" } }))).code, 0);
    assert.equal(host.projectFile("caddy/Caddyfile"), "# B\n");
    const r = await host.cli(["rollback", "--actor", "roger"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(host.markers(), []);
    assert.deepEqual(JSON.parse(r.out[0]).live, "blue");
    assert.equal(host.projectFile("caddy/Caddyfile"), "# A\n");
    assert.equal(host.container(WORKER)!.image, A);
    const rec = host.audit().pop()!;
    assert.deepEqual([rec.action, rec.who, rec.from, rec.to], ["rollback", "roger", "green", "blue"]);
    // Once blue has served, green's warm time is over: a second rollback is refused clearly.
    host.containers.find((c) => c.service === GREEN)!.running = false;
    const again = await host.cli(["rollback"]);
    assert.equal(again.code, 1);
    assert.match(again.err.join("\n"), /green is not running \(its warm time is over\): roll back with wepppy-cicd rollback/);
  });
});
