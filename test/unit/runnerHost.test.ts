import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { NAMESPACE } from "../../config/environments";
import { runnerIdentities } from "../../config/runnerNames";
import { runner } from "../../config/sections/runner";
import { Evaluation, RegisteredResource, evaluateStack, isWireSecret, plainStrings } from "../../harness/evaluate";
import { tokenLatchCrud } from "../../program/components/githubRest";
import {
  PLACEHOLDER_ADMIN_TOKEN,
  PLACEHOLDER_DEPLOY_KEY,
  PLACEHOLDER_REGISTRATION_TOKEN,
  PLACEHOLDER_REGISTRY_TOKEN,
  TEST_HOST_KEY,
  deployableConfig,
  registryAnswer,
  sharedEvaluation,
} from "./helpers";

/* The RunnerHost of the dev stack and the deploy access of the environment stacks, under the mock engine. */

const COMMAND = "command:remote:Command";
const LATCH = "pulumi-nodejs:dynamic/github:RegistrationTokenLatch";
const REGISTRATION = "pulumi-nodejs:dynamic/github:RunnerRegistration";

function evaluateDev(overrides: Record<string, unknown> = {}): Promise<Evaluation> {
  return evaluateStack({ stack: "dev", config: deployableConfig("dev", overrides), preview: false, invoke: registryAnswer });
}

const byName = (ev: Evaluation, name: string): RegisteredResource => {
  const found = ev.resources.filter((r) => r.name === name);
  assert.equal(found.length, 1, `expected one ${name}, found ${found.length} (have ${ev.resources.map((r) => r.name).filter((n) => n.includes("runner")).join(", ")})`);
  return found[0];
};
const commands = (ev: Evaluation) => ev.resources.filter((r) => r.type === COMMAND && r.name.startsWith("dev-runner-host-"));

describe("the runner host (dev) under the mock engine", function () {
  this.timeout(60_000);
  let ev: Evaluation;
  before(async () => {
    ev = await sharedEvaluation("dev", false);
  });

  it("declares the script, each runner's unit, token latch, registration and command, the cleanup timer and the deploy known_hosts", () => {
    const cfg = runner.parse({});
    const names = runnerIdentities(cfg).map((r) => r.name);
    assert.deepEqual(names, ["forest-runner-1", "forest-runner-2", "forest-deploy-1"]);
    for (const n of names) {
      byName(ev, `dev-runner-host-${n}`);
      byName(ev, `dev-runner-host-${n}-unit`);
      assert.equal(byName(ev, `dev-runner-host-${n}-token`).type, LATCH);
      assert.equal(byName(ev, `dev-runner-host-${n}-registration`).type, REGISTRATION);
    }
    for (const n of ["script", "cleanup-service", "cleanup-timer", "deploy-known-hosts"]) byName(ev, `dev-runner-host-${n}`);
  });

  it("connects to the dev host with its pinned host key, as the deploy user", () => {
    for (const c of commands(ev)) {
      assert.equal(c.inputs.connection.hostKey, TEST_HOST_KEY, c.name);
      assert.equal(c.inputs.connection.host, "forest.bearhive.internal");
      assert.equal(c.inputs.connection.privateKey, PLACEHOLDER_DEPLOY_KEY);
    }
  });

  it("registers each runner with its name and labels from the config, the token on stdin from the latch, never in a trigger or a command line", () => {
    const ensure = byName(ev, "dev-runner-host-forest-runner-1");
    const latch = byName(ev, "dev-runner-host-forest-runner-1-token");
    assert.match(ensure.inputs.create, /--name forest-runner-1 --user ghr-ci-1 --labels homelab,ghcr-builder /);
    assert.equal(ensure.inputs.stdin, PLACEHOLDER_REGISTRATION_TOKEN);
    assert.ok(isWireSecret(ensure.wireInputs.stdin), "stdin is secret");
    assert.ok(ensure.dependencies.includes(latch.urn), "stdin comes from the latch");
    assert.ok(ensure.additionalSecretOutputs.includes("stdin"));
    assert.ok(!JSON.stringify(ensure.inputs.triggers).includes(PLACEHOLDER_REGISTRATION_TOKEN));
    for (const c of commands(ev)) {
      assert.ok(!c.inputs.create.includes(PLACEHOLDER_REGISTRATION_TOKEN) && !(c.inputs.delete ?? "").includes(PLACEHOLDER_REGISTRATION_TOKEN), c.name);
    }
    const deploy = byName(ev, "dev-runner-host-forest-deploy-1");
    assert.match(deploy.inputs.create, /--zone deploy --name forest-deploy-1 --user ghr-deploy --labels homelab-deploy /);
    assert.match(deploy.inputs.create, /--docker yes /);
    assert.match(ensure.inputs.create, /--docker yes /);
  });

  it("a fresh token each update changes nothing: the latch keeps the first until registrationGeneration changes", async () => {
    const first = await tokenLatchCrud.create({ token: "TOKEN-A", generation: 1 });
    assert.equal((await tokenLatchCrud.diff(first.id, first.outs, { token: "TOKEN-B", generation: 1 })).changes, false);
    const bumped = await tokenLatchCrud.diff(first.id, first.outs, { token: "TOKEN-B", generation: 2 });
    assert.deepEqual([bumped.changes, bumped.replaces], [true, ["generation"]]);
    const latch = byName(ev, "dev-runner-host-forest-runner-1-token");
    assert.equal(latch.inputs.generation, 1);
    const again = await evaluateDev({ "runner.registrationGeneration": 2 });
    assert.equal(byName(again, "dev-runner-host-forest-runner-1-token").inputs.generation, 2);
  });

  it("the host command verifies a pinned runner version by its sha256 from config", () => {
    const cfg = runner.parse({});
    const ensure = byName(ev, "dev-runner-host-forest-runner-1");
    assert.ok(ensure.inputs.create.includes(`--version ${cfg.version} --sha256 ${cfg.sha256} --tarball-url https://github.com/actions/runner/releases/download/v${cfg.version}/actions-runner-linux-x64-${cfg.version}.tar.gz`));
  });

  it("keeps an account out of the docker group when its zone's docker flag is off", async () => {
    const off = await evaluateDev({ "runner.deploy.docker": false, "runner.ci.docker": false });
    assert.match(byName(off, "dev-runner-host-forest-deploy-1").inputs.create, /--docker no /);
    assert.match(byName(off, "dev-runner-host-forest-runner-1").inputs.create, /--docker no /);
  });

  it("a version bump is an update of the same command (no trigger changes, so no delete runs): the runner is reconfigured in place", async () => {
    const bumped = await evaluateDev({ "runner.version": "2.337.0", "runner.sha256": "e".repeat(64) });
    const a = byName(ev, "dev-runner-host-forest-runner-1");
    const b = byName(bumped, "dev-runner-host-forest-runner-1");
    assert.deepEqual(b.inputs.triggers, a.inputs.triggers);
    assert.equal(b.inputs.delete, a.inputs.delete);
    assert.notEqual(b.inputs.create, a.inputs.create);
    assert.match(b.inputs.create, /--version 2\.337\.0 --sha256 e{64} /);
    assert.match(b.inputs.create, /--name forest-runner-1 --user ghr-ci-1 --labels homelab,ghcr-builder /, "name and labels kept");
  });

  it("deregisters on destroy and when N shrinks: each runner's command removes it, delete-before-replace, after its GitHub record exists", async () => {
    const three = await evaluateDev({ "runner.ci.count": 3 });
    const names = commands(three).map((c) => c.name).filter((n) => /forest-runner-\d$/.test(n)).sort();
    assert.deepEqual(names, ["dev-runner-host-forest-runner-1", "dev-runner-host-forest-runner-2", "dev-runner-host-forest-runner-3"]);
    const third = byName(three, "dev-runner-host-forest-runner-3");
    assert.match(third.inputs.delete, /remove --name forest-runner-3 --user ghr-ci-3 --drain-minutes 60$/);
    assert.equal(third.deleteBeforeReplace, true);
    assert.ok(third.dependencies.includes(byName(three, "dev-runner-host-forest-runner-3-registration").urn), "removed from the host before GitHub");
    assert.deepEqual(third.inputs.triggers, ["forest.bearhive.internal", "22"], "only a move to another host replaces it");
    // Shrinking back to 2: forest-runner-3's resources are no longer declared, so the engine deletes them.
    assert.ok(!ev.resources.some((r) => r.name.includes("forest-runner-3")));
  });

  it("declares a hardened unit per runner and a cleanup timer", () => {
    const unit = byName(ev, "dev-runner-host-forest-runner-2-unit");
    assert.match(unit.inputs.create, /install-unit wepppy-runner-forest-runner-2\.service$/);
    assert.match(unit.inputs.stdin, /^User=ghr-ci-2$/m);
    assert.match(unit.inputs.stdin, /^NoNewPrivileges=yes$/m);
    assert.match(unit.inputs.stdin, /^Restart=on-failure$/m);
    const timer = byName(ev, "dev-runner-host-cleanup-timer");
    assert.match(timer.inputs.create, /install-unit wepppy-runner-cleanup\.timer --start yes$/);
    assert.match(timer.inputs.delete, /remove-unit wepppy-runner-cleanup\.timer$/);
    assert.match(byName(ev, "dev-runner-host-cleanup-service").inputs.stdin, /cleanup --log-days 7$/m);
  });

  it("exports the runners, the labels each kind of job asks for, and the health command; the workflows ask only for labels a runner of the right zone carries", () => {
    const out = (ev.outputs.runners as any).runnerHost;
    assert.deepEqual(out.runners.map((r: any) => [r.name, r.zone]), [["forest-runner-1", "ci"], ["forest-runner-2", "ci"], ["forest-deploy-1", "deploy"]]);
    assert.match(out.healthCommand, /^sudo -n bash \/opt\/wepppy-runner\/bin\/wepppy-runner health$/);
    const files = ev.resources.filter((r) => r.type === "github:index/repositoryFile:RepositoryFile");
    for (const f of files) {
      for (const [id, job] of Object.entries(parse(f.inputs.content).jobs as Record<string, any>)) {
        const wanted: string[] = job["runs-on"];
        const zone = job.environment ? "deploy" : "ci";
        const carriers = out.runners.filter((r: any) => wanted.every((l) => r.labels.includes(l)));
        assert.ok(carriers.length > 0, `${f.inputs.file} ${id}: no runner carries ${wanted}`);
        assert.ok(carriers.every((r: any) => r.zone === zone), `${f.inputs.file} ${id} (${zone}) can land on a ${carriers.map((r: any) => r.zone)} runner`);
      }
    }
  });

  it("pins the deploy targets' host keys in the deploy account's known_hosts, from config, and says which are not pinned yet", async () => {
    assert.ok(ev.warnings.some((w) => w.includes("left out of the deploy runner's known_hosts") && w.includes("forest1.bearhive.internal") && w.includes("wepp1")));
    const pinned = await evaluateDev({
      "runner.deployTargets": [
        { host: "forest1.bearhive.internal", address: "10.0.0.12", hostKey: "ssh-ed25519 AAAAforest1" },
        { host: "wepp1", port: 2222, hostKey: "ssh-ed25519 AAAAwepp1" },
      ],
    });
    const known = byName(pinned, "dev-runner-host-deploy-known-hosts");
    assert.match(known.inputs.create, /deploy-ssh --user ghr-deploy$/);
    assert.match(known.inputs.stdin, /^forest1\.bearhive\.internal,10\.0\.0\.12 ssh-ed25519 AAAAforest1$/m);
    assert.match(known.inputs.stdin, /^\[wepp1\]:2222 ssh-ed25519 AAAAwepp1$/m);
  });

  it("puts no secret in a plain input or output: token, deploy key, admin token", () => {
    const secrets = [PLACEHOLDER_REGISTRATION_TOKEN, PLACEHOLDER_DEPLOY_KEY.split("\n")[1], PLACEHOLDER_ADMIN_TOKEN, PLACEHOLDER_REGISTRY_TOKEN];
    for (const r of ev.resources) {
      const plain = plainStrings(r.wireInputs).join("\n");
      for (const s of secrets) assert.ok(!plain.includes(s), `${r.type} ${r.name} has a secret in a plain input`);
    }
    const outputs = JSON.stringify(ev.outputs);
    for (const s of secrets) assert.ok(!outputs.includes(s), "a secret is in the stack outputs");
    const reg = byName(ev, "dev-runner-host-forest-runner-1-registration");
    assert.equal(reg.inputs.token, PLACEHOLDER_ADMIN_TOKEN);
    assert.ok(isWireSecret(reg.wireInputs.token));
  });

  it("refuses a runner older than 2.327.0 and an update without the admin token, naming the keys", async () => {
    await assert.rejects(evaluateDev({ "runner.version": "2.320.0" }), /wepppy-cicd:runner\.version: expected a runner version 2\.327\.0 or later/);
    await assert.rejects(
      evaluateStack({ stack: "dev", config: deployableConfig("dev", { "secrets.github_admin_token": undefined }), preview: false, invoke: registryAnswer }),
      /secrets\.github_admin_token/,
    );
    // The failed program's components finish registering under this mock before the next evaluation replaces it.
    await new Promise((resolve) => setTimeout(resolve, 500));
  });
});

describe("deploy access on an environment stack's host", function () {
  this.timeout(60_000);

  it("puts the deploy key's public half in the deploy account's authorized_keys, from= the runner host, restricted", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deploykey-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path.join(dir, "k")]);
      const key = fs.readFileSync(path.join(dir, "k"), "utf8");
      const pub = fs.readFileSync(path.join(dir, "k.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
      const testprod = await sharedEvaluation("testprod", false);
      assert.ok(!testprod.resources.some((r) => r.name.includes("deploy-access")), "not managed until runner.access.from is set");
      assert.ok(testprod.warnings.some((w) => w.includes(`${NAMESPACE}:runner.access.from`)));
      const ev = await evaluateStack({
        stack: "testprod",
        config: deployableConfig("testprod", { deployKey: key, "runner.access.from": ["192.168.1.10"] }),
        preview: false,
        invoke: registryAnswer,
      });
      const cmd = byName(ev, "testprod-deploy-access-authorized-keys");
      assert.equal(cmd.inputs.connection.hostKey, TEST_HOST_KEY);
      assert.ok(cmd.inputs.stdin.includes(`from="192.168.1.10",restrict ${pub} `));
      assert.ok(cmd.inputs.delete.length > 0, "destroy removes the line again");
      assert.ok(!plainStrings(cmd.wireInputs).some((s) => s.includes(key.split("\n")[1])), "the private key stays secret");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
