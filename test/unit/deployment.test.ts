import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BLUEGREEN_CADDYFILE } from "../../host/contract/traffic";
import { Evaluation, RegisteredResource, ResourceRequest, evaluateStack, isWireSecret, plainStrings } from "../../harness/evaluate";
import { createLocally } from "../../harness/localProviders";
import {
  PLACEHOLDER_DEPLOY_KEY,
  PLACEHOLDER_REGISTRY_TOKEN,
  TEST_HOST_KEY,
  deployableConfig,
  fakeDigest,
  deployRequest,
  registryAnswer,
  sharedEvaluation,
  stagedText,
  stackConfig,
} from "./helpers";

const COMMAND = "command:remote:Command";
const OLDER_LAYOUT = path.join(__dirname, "..", "fixtures", "compose-env-secrets");
const COPY = "command:remote:CopyToRemote";

/** Each generated secret gets a recognisable value, so a leak anywhere can be found. */
function recordingCreate(secrets: string[]) {
  return async (r: ResourceRequest) => {
    const local = createLocally(r);
    if (local && r.type.startsWith("random:")) {
      const result = `PLACEHOLDER-${r.name}-${secrets.length}`;
      secrets.push(result);
      return { state: { ...local.state, result } };
    }
    return local ?? { state: r.inputs };
  };
}

async function deployable(stack: string, overrides: Record<string, unknown> = {}, secrets: string[] = []): Promise<Evaluation> {
  const testprod = await sharedEvaluation("testprod", false);
  return evaluateStack({
    stack,
    config: deployableConfig(stack, overrides),
    preview: false,
    invoke: registryAnswer,
    stackOutputs: { testprod: testprod.outputs },
    create: recordingCreate(secrets),
  });
}

function named(ev: Evaluation, suffix: string): RegisteredResource {
  const found = ev.resources.filter((r) => r.name.endsWith(suffix) && r.name.includes("-compose-"));
  assert.equal(found.length, 1, `expected one resource named *${suffix}, found ${found.map((r) => r.name)}`);
  return found[0];
}

describe("ComposeDeployment", () => {
  const secrets: string[] = [];
  let testprod: Evaluation;
  let prod: Evaluation;
  before(async () => {
    testprod = await deployable("testprod", {}, secrets);
    prod = await deployable("prod", {}, secrets);
  });

  it("declares the steps of a deploy over SSH for testprod: the agent installed, the release staged, then the deploy", () => {
    const names = testprod.resources.filter((r) => r.type === COMMAND || r.type === COPY).map((r) => r.name).sort();
    assert.deepEqual(names, [
      "testprod-compose-agent",
      "testprod-compose-agent-conf",
      "testprod-compose-agent-dockerfile",
      "testprod-compose-agent-image",
      "testprod-compose-backup-schedule",
      "testprod-compose-boot-hook",
      "testprod-compose-deploy",
      "testprod-compose-env-secrets",
      "testprod-compose-file-modes",
      "testprod-compose-registry-login",
      "testprod-compose-root-helper",
      "testprod-compose-script",
      "testprod-compose-secrets",
      "testprod-compose-setup",
      "testprod-compose-staged-deploy.json",
      "testprod-compose-staged-env.template",
      "testprod-compose-staged-manifest",
      "testprod-compose-staged-project-caddy-Caddyfile",
      "testprod-compose-staged-project-defaults.env",
      "testprod-compose-staged-project-docker-compose.prod.yml",
    ]);
  });

  it("says which mounted file it could not find instead of failing silently", () => {
    assert.ok(testprod.warnings.some((w) => w.includes("redis-entrypoint.sh")), testprod.warnings.join("\n"));
  });

  it("pins the host key on every connection and keeps the private key secret", () => {
    for (const r of testprod.resources.filter((x) => x.type === COMMAND || x.type === COPY)) {
      // A secret private key makes the whole connection secret on the wire, which is fine.
      const wire = r.wireInputs.connection as Record<string, unknown>;
      assert.ok(isWireSecret(wire) || isWireSecret(wire.privateKey), `${r.name}: private key not secret`);
      assert.equal(r.inputs.connection.hostKey, TEST_HOST_KEY, r.name);
      assert.equal(r.inputs.connection.privateKey, PLACEHOLDER_DEPLOY_KEY, r.name);
      assert.equal(r.inputs.connection.user, "roger");
    }
  });

  it("runs the deploy after the agent, the staged release (its manifest last) and the secrets are in place", () => {
    const deploy = named(testprod, "-deploy");
    const urns = new Map(testprod.resources.map((r) => [r.name, r.urn]));
    for (const step of ["-agent", "-agent-image", "-agent-conf", "-secrets", "-registry-login", "-staged-manifest"]) {
      assert.ok(deploy.dependencies.includes(urns.get(`testprod-compose${step}`)!), `deploy does not wait for ${step}`);
    }
    const manifest = named(testprod, "-staged-manifest");
    assert.ok(manifest.dependencies.includes(urns.get("testprod-compose-file-modes")!), "the manifest is copied after every other staged file");
    const modes = named(testprod, "-file-modes");
    for (const f of ["-staged-deploy.json", "-staged-env.template", "-staged-project-docker-compose.prod.yml"]) assert.ok(modes.dependencies.includes(urns.get(`testprod-compose${f}`)!), f);
  });

  it("hands the agent only the image that must be live, pinned to its digest, and the staged release", () => {
    const request = deployRequest(testprod, "testprod");
    assert.equal(request.image, `ghcr.io/rogerlew/wepppy@${testprod.outputs.imageDigest}`);
    assert.match(request.releaseKey, /^[0-9a-f]{16}$/);
    assert.ok(named(testprod, "-staged-manifest").inputs.remotePath.includes(`/releases/${request.releaseKey}/`));
  });

  it("stages the env template with the stack's values (no image: the host writes it)", () => {
    const env = stagedText(testprod, "testprod", "env.template");
    assert.doesNotMatch(env, /^WEPPCLOUD_IMAGE=/m);
    assert.match(env, /^EXTERNAL_HOST=wc-prod\.bearhive\.duckdns\.org$/m);
    assert.match(env, /^UID=33$/m);
    assert.match(env, /^GID=1234$/m);
    assert.match(env, /^TEST_SUPPORT_ENABLED=false$/m);
    assert.match(env, /^SITE_PREFIX=\/weppcloud$/m, "defaults.env's own keys are kept");
  });

  it("gives the host the gate, smoke and backup settings of each stack (deploy.json)", () => {
    const t = JSON.parse(stagedText(testprod, "testprod", "deploy.json"));
    const p = JSON.parse(stagedText(prod, "prod", "deploy.json"));
    assert.equal(t.smoke.mode, "pages");
    assert.equal(t.backup.preDeploy, false);
    assert.equal(p.backup.preDeploy, true);
    assert.equal(p.backup.schedule, "hourly");
    assert.equal(p.rollback, "automatic");
    assert.equal(t.health.tries, 30);
    assert.equal(t.health.intervalSeconds, 10);
    assert.equal(t.dbService, "postgres");
    for (const service of ["weppcloud", "rq-worker", "rq-worker-batch"]) assert.ok(t.stopForRestore.includes(service), `${service} keeps using the database during a restore`);
    assert.ok(!t.stopForRestore.includes("postgres"));
    assert.deepEqual(t.runAs, { uid: 33, gid: 1234 });
  });

  it("gives testprod its validation suites, its soak and a drill after each scheduled backup; prod soaks nothing", () => {
    const t = JSON.parse(stagedText(testprod, "testprod", "deploy.json"));
    const p = JSON.parse(stagedText(prod, "prod", "deploy.json"));
    assert.deepEqual([t.validate.enabled, t.validate.suites, t.validate.host], [true, ["create-run", "routes"], "wc-prod.bearhive.duckdns.org"]);
    assert.ok(t.validate.routes.includes("/rq-engine/health"));
    assert.deepEqual(t.soak, { seconds: 86400, intervalSeconds: 60, maxErrorPercent: 1, minRequests: 20, maxAppErrors: 50, accessLog: { service: "caddy", path: "/var/log/wepppy-cicd/access.log" } });
    assert.deepEqual([p.validate.enabled, p.soak.seconds], [false, 0]);
    assert.deepEqual(p.soak.accessLog, { service: "caddy", path: "/var/log/caddy-bluegreen/access.log" });
    assert.equal(t.backup.drill, true);
  });

  it("adds the soak's JSON access log to the one-colour Caddyfile testprod stages, and only there", () => {
    const caddy = stagedText(testprod, "testprod", "project/caddy/Caddyfile");
    assert.match(caddy, /^http:\/\/:8080 \{\n.*\n\s+log \{\n\s+output file \/var\/log\/wepppy-cicd\/access\.log \{\n(?:.*\n){3}\s+format json\n/m);
    assert.doesNotMatch(stagedText(prod, "prod", `project/${BLUEGREEN_CADDYFILE}`), /wepppy-cicd\/access\.log/);
  });

  it("confines the test-support API to Caddy's validation listener on the host's loopback where it is on, and stages nothing of it where it is off", async () => {
    const on = await deployable("testprod", { "features.TEST_SUPPORT_ENABLED": true, "promotion.validationPort": 18181 });
    const settings = JSON.parse(stagedText(on, "testprod", "deploy.json"));
    assert.equal(settings.smoke.mode, "test-support");
    assert.equal(settings.smoke.testSupportUrl, "http://127.0.0.1:18181");
    assert.deepEqual(settings.compose.files, ["docker-compose.prod.yml", "docker-compose.wepppy-cicd-validation.yml"]);
    assert.equal(stagedText(on, "testprod", "project/docker-compose.wepppy-cicd-validation.yml").trim(), 'services:\n  caddy:\n    ports:\n      - 127.0.0.1:18181:8081');
    const caddy = stagedText(on, "testprod", "project/caddy/Caddyfile");
    assert.match(caddy, /@wepppy_cicd_test_support path \/tests\/api\* \/weppcloud\/tests\/api\*\n\s+handle @wepppy_cicd_test_support \{\n\s+respond "Not Found" 404/);
    assert.match(caddy, /^http:\/\/:8081 \{$/m);
    assert.match(caddy, /output file \/var\/log\/wepppy-cicd\/access\.log/, "the soak's log as before");
    // wepppy publishes the app's own port on every interface: bound to the loopback, it cannot reach the API around Caddy.
    assert.match(stagedText(on, "testprod", "env.template"), /^WEPPCLOUD_PORT=127\.0\.0\.1:8000$/m);
    assert.doesNotMatch(stagedText(testprod, "testprod", "env.template"), /^WEPPCLOUD_PORT=/m);
    const off = JSON.parse(stagedText(testprod, "testprod", "deploy.json"));
    assert.equal(off.smoke.testSupportUrl, off.smoke.url);
    assert.deepEqual(off.compose.files, ["docker-compose.prod.yml"]);
    assert.doesNotMatch(stagedText(testprod, "testprod", "project/caddy/Caddyfile"), /wepppy_cicd_test_support|:8081/);
  });

  it("sends every generated secret to the host on stdin, marked secret", () => {
    const r = named(testprod, "-compose-secrets");
    assert.ok(isWireSecret(r.wireInputs.stdin));
    assert.equal(r.inputs.logging, "none");
    const names = String(r.inputs.stdin).trim().split("\n").map((l) => l.split(" ")[0]);
    for (const expected of ["postgres_password", "flask_secret_key", "flask_security_password_salt", "redis_password"]) {
      assert.ok(names.includes(expected), `${expected} is not written`);
    }
    assert.ok(isWireSecret(named(testprod, "-registry-login").wireInputs.stdin));
  });

  it("writes no .env secret for today's layout (an empty stdin clears what an older release left)", () => {
    const env = named(testprod, "-compose-env-secrets");
    assert.ok(isWireSecret(env.wireInputs.stdin));
    assert.equal(String(env.inputs.stdin), "");
    assert.match(String(env.inputs.create), /wepppy-root' write-env-secrets '\/opt\/wepppy\/docker\/secrets'$|wepppy-root write-env-secrets \/opt\/wepppy\/docker\/secrets$/);
  });

  describe("an older compose layout (secrets from .env, no Caddy)", () => {
    const older = { "compose.sourceDir": OLDER_LAYOUT, "compose.sourceAt": "checkout", "health.smokeUrl": "http://127.0.0.1:8000" };
    let ev: Evaluation;
    const oldSecrets: string[] = [];
    before(async () => {
      ev = await deployable("testprod", older, oldSecrets);
    });

    it("gives the same stack secrets to .env as the variables it interpolates, on stdin, marked secret, and writes no secret file", () => {
      const env = named(ev, "-compose-env-secrets");
      assert.ok(isWireSecret(env.wireInputs.stdin));
      const lines = String(env.inputs.stdin).trim().split("\n");
      assert.deepEqual(lines.map((l) => l.split("=")[0]), ["OAUTH_GITHUB_CLIENT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY", "SECURITY_PASSWORD_SALT"]);
      // An issued secret nobody set is written empty (its feature off); every other is the stack's generated value.
      assert.equal(lines[0], "OAUTH_GITHUB_CLIENT_SECRET=");
      for (const l of lines.slice(1)) assert.ok(oldSecrets.includes(l.slice(l.indexOf("=") + 1)), `${l.split("=")[0]} is not a generated secret`);
      assert.equal(String(named(ev, "-compose-secrets").inputs.stdin), "");
    });

    it("refuses, before any resource, a compose file requiring a value the stack lacks, naming file, service and variable", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "needs-"));
      const text = fs.readFileSync(path.join(OLDER_LAYOUT, "docker-compose.prod.yml"), "utf8").replace("      SECURITY_PASSWORD_SALT: ${SECURITY_PASSWORD_SALT}\n", "      SECURITY_PASSWORD_SALT: ${SECURITY_PASSWORD_SALT}\n      LICENSE: ${WEPPPY_LICENSE_KEY:?set it}\n");
      fs.writeFileSync(path.join(dir, "docker-compose.prod.yml"), text);
      const made: string[] = [];
      await assert.rejects(
        evaluateStack({ stack: "testprod", config: deployableConfig("testprod", { ...older, "compose.sourceDir": dir }), preview: false, invoke: registryAnswer, create: async (r) => (made.push(r.name), createLocally(r) ?? { state: r.inputs }) }),
        /refused before any host command:\n {2}- docker-compose\.prod\.yml: service weppcloud: \$\{WEPPPY_LICENSE_KEY:\?set it\} requires WEPPPY_LICENSE_KEY/,
      );
      fs.rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(made, []);
    });
  });

  it("lets no secret reach a command line, a trigger, another plain input or a plain output", () => {
    const known = [PLACEHOLDER_DEPLOY_KEY.split("\n")[1], PLACEHOLDER_REGISTRY_TOKEN, ...secrets];
    assert.ok(secrets.length >= 10, "the random passwords were not generated");
    const forms = known.flatMap((s) => [s, Buffer.from(s).toString("base64")]);
    for (const ev of [testprod, prod]) {
      const plain = ev.resources.flatMap((r) => plainStrings(r.wireInputs).map((s) => [r.name, s] as const));
      plain.push(...Object.entries(ev.outputs).filter(([k]) => !ev.secretOutputs.includes(k)).map(([k, v]) => [`output ${k}`, String(JSON.stringify(v))] as const));
      for (const [where, text] of plain) {
        for (const form of forms) assert.ok(!text.includes(form), `${where} carries a secret in plain text`);
      }
    }
  });

  it("redeploys when the image changes, and declares identical inputs when nothing does", async () => {
    const again = await deployable("testprod");
    const moved = await deployable("testprod", { "image.tag": "sha-" + "d".repeat(40) });
    const deploy = (ev: Evaluation) => named(ev, "-deploy").inputs;
    assert.deepEqual(deploy(again), deploy(testprod));
    assert.notDeepEqual(deploy(moved).triggers, deploy(testprod).triggers);
    assert.equal(JSON.parse(deploy(moved).stdin).image, `ghcr.io/rogerlew/wepppy@${fakeDigest("ghcr.io/rogerlew/wepppy:sha-" + "d".repeat(40))}`);
  });

  it("records a prod hotfix in the deploy it runs", async () => {
    const ev = await deployable("prod", { "image.hotfix": { tag: "sha-" + "e".repeat(40), reason: "CVE fix cannot wait" } });
    assert.equal(deployRequest(ev, "prod").hotfix, "CVE fix cannot wait");
  });

  it("refuses to update a stack whose host key is not pinned, naming what to set", async () => {
    await assert.rejects(
      evaluateStack({ stack: "testprod", config: stackConfig("testprod"), preview: false, invoke: registryAnswer }),
      /testprod: cannot deploy to forest1\.bearhive\.internal: set wepppy-cicd:deploy\.hostKey .* and wepppy-cicd:deployKey/,
    );
  });

  it("previews such a stack with a warning and no host command", async () => {
    const ev = await evaluateStack({ stack: "testprod", config: stackConfig("testprod"), preview: true, invoke: registryAnswer });
    assert.deepEqual(ev.resources.filter((r) => r.type === COMMAND), []);
    assert.match(String(ev.outputs.deployed), /deploy\.hostKey and deployKey are not set/);
    assert.ok(ev.warnings.some((w) => w.includes("will refuse to run")));
  });

  it("leaves dev's host alone: the developer's checkout is never rebuilt, reset or deployed by the stack", async () => {
    const ev = await deployable("dev");
    assert.equal(ev.resources.filter((r) => r.name.includes("-compose-")).length, 0);
    assert.match(String(ev.outputs.deployed), /by hand: the developer's checkout \/workdir\/wepppy/);
  });
});

describe("ComposeDeployment under the engine's real update semantics", () => {
  // Generated passwords kept from one update to the next, as the engine's state keeps them.
  const kept = async (r: ResourceRequest) => (r.type === "random:index/randomPassword:RandomPassword" ? { state: { ...r.inputs, result: `kept-${r.name}` } } : (createLocally(r) ?? { state: r.inputs }));
  async function testprodWith(overrides: Record<string, unknown>): Promise<Evaluation> {
    return evaluateStack({ stack: "testprod", config: deployableConfig("testprod", overrides), preview: false, invoke: registryAnswer, create: kept });
  }
  const byName = (ev: Evaluation, name: string) => ev.resources.find((r) => r.name === `testprod-compose-${name}`)!;
  const provided = (value: string) => ({ secrets: { oauth_github_client_secret: value } });

  it("a rotated secret changes the deploy's triggers (replace: it runs), through a trigger that is itself secret", async () => {
    const a = await testprodWith(provided("first-value"));
    const same = await testprodWith(provided("first-value"));
    const b = await testprodWith(provided("second-value"));
    assert.deepEqual(byName(a, "deploy").inputs.triggers, byName(same, "deploy").inputs.triggers, "unchanged secrets: nothing runs");
    const secretTriggers = (ev: Evaluation) => (byName(ev, "deploy").wireInputs.triggers as unknown[]).filter(isWireSecret);
    assert.equal(secretTriggers(a).length, 1, "the secrets' digest is a secret trigger");
    // The secrets command's own change is an Update (its id stays): only this trigger can tell the deploy.
    assert.notDeepEqual(byName(a, "deploy").inputs.triggers, byName(b, "deploy").inputs.triggers);
    assert.equal(byName(a, "secrets").inputs.triggers, undefined, "the secrets command itself is updated in place, not replaced");
  });

  it("a moved or rebuilt host replaces setup, every copy and the backup schedule (they run and copy again there), and nothing is deleted on the old host", async () => {
    const a = await testprodWith({});
    const b = await testprodWith({ "deploy.address": "10.0.0.99", "deploy.hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5ldy1ob3N0LWtleS1mb3ItdW5pdC10ZXN0cw" });
    for (const name of ["setup", "script", "root-helper", "agent", "agent-image", "staged-project-docker-compose.prod.yml", "staged-project-caddy-Caddyfile", "staged-manifest", "file-modes", "backup-schedule", "deploy"]) {
      assert.notDeepEqual(byName(a, name).inputs.triggers, byName(b, name).inputs.triggers, `${name} is replaced on the new host`);
    }
    // The old host may be gone or refuse the old key: a delete there would fail the update.
    for (const r of b.resources.filter((x) => x.type === "command:remote:Command")) assert.equal(r.inputs.delete, undefined, `${r.name} runs nothing on the old host`);
  });

  it("sets each staged file's mode explicitly: SFTP creates them 0644 (redis-entrypoint.sh must run)", async () => {
    const ev = await testprodWith({});
    const modes = String(byName(ev, "file-modes").inputs.create);
    assert.match(modes, /chmod 0644 -- .*\/opt\/wepppy-cicd\/releases\/[0-9a-f]{16}\/project\/docker-compose\.prod\.yml/);
  });
});
