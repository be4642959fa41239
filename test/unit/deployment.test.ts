import { strict as assert } from "node:assert";
import { Evaluation, RegisteredResource, ResourceRequest, evaluateStack, isWireSecret } from "../../harness/evaluate";
import { createLocally } from "../../harness/localProviders";
import {
  PLACEHOLDER_DEPLOY_KEY,
  PLACEHOLDER_REGISTRY_TOKEN,
  TEST_HOST_KEY,
  deployableConfig,
  fakeDigest,
  registryAnswer,
  stackConfig,
} from "./helpers";

const COMMAND = "command:remote:Command";
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

/** Every string in a wire value that is not inside a secret marker. */
function plainStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value && typeof value === "object") {
    if (isWireSecret(value)) return out;
    Object.values(value as Record<string, unknown>).forEach((v) => plainStrings(v, out));
  }
  return out;
}

async function deployable(stack: string, overrides: Record<string, unknown> = {}, secrets: string[] = []): Promise<Evaluation> {
  const testprod = await evaluateStack({ stack: "testprod", config: deployableConfig("testprod"), preview: false, invoke: registryAnswer });
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

  it("declares the steps of a deploy over SSH for testprod", () => {
    const names = testprod.resources.filter((r) => r.type === COMMAND || r.type === COPY).map((r) => r.name).sort();
    assert.deepEqual(names, [
      "testprod-compose-backup-schedule",
      "testprod-compose-conf",
      "testprod-compose-deploy",
      "testprod-compose-env",
      "testprod-compose-file-caddy-Caddyfile",
      "testprod-compose-file-defaults.env",
      "testprod-compose-file-docker-compose.prod.yml",
      "testprod-compose-file-modes",
      "testprod-compose-registry-login",
      "testprod-compose-script",
      "testprod-compose-secrets",
      "testprod-compose-setup",
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

  it("runs the deploy after every file, setting and secret is in place", () => {
    const deploy = named(testprod, "-deploy");
    const urns = new Map(testprod.resources.map((r) => [r.name, r.urn]));
    for (const step of ["-conf", "-env", "-secrets", "-registry-login", "-file-docker-compose.prod.yml", "-file-caddy-Caddyfile"]) {
      assert.ok(deploy.dependencies.includes(urns.get(`testprod-compose${step}`)!), `deploy does not wait for ${step}`);
    }
  });

  it("writes the env file with the digest-pinned image and the stack's values", () => {
    const env = String(named(testprod, "-env").inputs.stdin);
    assert.match(env, new RegExp(`^WEPPCLOUD_IMAGE=ghcr\\.io/rogerlew/wepppy@${testprod.outputs.imageDigest}$`, "m"));
    assert.match(env, /^EXTERNAL_HOST=wc-prod\.bearhive\.duckdns\.org$/m);
    assert.match(env, /^UID=33$/m);
    assert.match(env, /^GID=1234$/m);
    assert.match(env, /^TEST_SUPPORT_ENABLED=false$/m);
    assert.match(env, /^SITE_PREFIX=\/weppcloud$/m, "defaults.env's own keys are kept");
  });

  it("gives the host script the gate, smoke and backup settings of each stack", () => {
    const conf = (ev: Evaluation) =>
      Object.fromEntries(String(named(ev, "-conf").inputs.stdin).trim().split("\n").map((l) => l.split(/=(.*)/s).slice(0, 2)));
    const t = conf(testprod);
    const p = conf(prod);
    assert.equal(t.SMOKE, "pages");
    assert.equal(t.BACKUP_PRE_DEPLOY, "false");
    assert.equal(p.BACKUP_PRE_DEPLOY, "true");
    assert.equal(p.BACKUP_SCHEDULE, "hourly");
    assert.equal(p.ROLLBACK, "automatic");
    assert.equal(t.HEALTH_TRIES, "30");
    assert.equal(t.HEALTH_INTERVAL, "10");
    assert.equal(t.DB_SERVICE, "postgres");
    for (const service of ["weppcloud", "rq-worker", "rq-worker-batch"]) {
      assert.ok(t.STOP_FOR_RESTORE.split(" ").includes(service), `${service} keeps using the database during a restore`);
    }
    assert.ok(!t.STOP_FOR_RESTORE.split(" ").includes("postgres"));
  });

  it("sends every generated secret to the host on stdin, marked secret", () => {
    const r = named(testprod, "-secrets");
    assert.ok(isWireSecret(r.wireInputs.stdin));
    assert.equal(r.inputs.logging, "none");
    const names = String(r.inputs.stdin).trim().split("\n").map((l) => l.split(" ")[0]);
    for (const expected of ["postgres_password", "flask_secret_key", "flask_security_password_salt", "redis_password"]) {
      assert.ok(names.includes(expected), `${expected} is not written`);
    }
    assert.ok(isWireSecret(named(testprod, "-registry-login").wireInputs.stdin));
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
    assert.ok(deploy(moved).triggers.includes(`ghcr.io/rogerlew/wepppy@${fakeDigest("ghcr.io/rogerlew/wepppy:sha-" + "d".repeat(40))}`));
  });

  it("records a prod hotfix in the deploy it runs", async () => {
    const ev = await deployable("prod", { "image.hotfix": { tag: "sha-" + "e".repeat(40), reason: "CVE fix cannot wait" } });
    assert.match(String(named(ev, "-deploy").inputs.create), /--note 'hotfix: CVE fix cannot wait'$/);
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

  it("builds dev on its host from the checkout and copies no compose file", async () => {
    const ev = await deployable("dev");
    assert.equal(ev.resources.filter((r) => r.type === COPY && r.name.includes("-file-")).length, 0);
    assert.match(String(named(ev, "-build").inputs.create), /wepppy-deploy build --checkout \/workdir\/wepppy --ref master$/);
    assert.match(String(named(ev, "-conf").inputs.stdin), /^CANDIDATE=true$/m);
    assert.ok(!/^WEPPCLOUD_IMAGE=/m.test(String(named(ev, "-env").inputs.stdin)), "dev's compose names its own image");
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

  it("a moved or rebuilt host replaces setup and every copy (they run and copy again) but not the backup schedule's delete", async () => {
    const a = await testprodWith({});
    const b = await testprodWith({ "deploy.address": "10.0.0.99", "deploy.hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5ldy1ob3N0LWtleS1mb3ItdW5pdC10ZXN0cw" });
    for (const name of ["setup", "script", "file-docker-compose.prod.yml", "file-caddy-Caddyfile", "file-defaults.env", "file-modes", "deploy"]) {
      assert.notDeepEqual(byName(a, name).inputs.triggers, byName(b, name).inputs.triggers, `${name} is replaced on the new host`);
    }
    // The old host may be gone: a replacement would run its delete there first (deleteBeforeReplace) and fail.
    assert.deepEqual(byName(a, "backup-schedule").inputs.triggers, byName(b, "backup-schedule").inputs.triggers);
  });

  it("sets each copied file's mode explicitly: SFTP creates them 0644 (redis-entrypoint.sh must run)", async () => {
    const ev = await testprodWith({});
    const modes = String(byName(ev, "file-modes").inputs.create);
    assert.match(modes, /chmod 0644 -- .*\/opt\/wepppy\/docker\/docker-compose\.prod\.yml/);
  });
});
