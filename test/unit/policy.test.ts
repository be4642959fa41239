import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { ACTIONS } from "../../config/githubNames";
import { PROJECT_ROOT } from "../../config/paths";
import { GATES, TYPES, gatePolicies } from "../../policy/gates";
import { GraphStack } from "../../policy/offline";
import { pinProblem } from "../../policy/workflow";
import { PLACEHOLDER_DEPLOY_KEY, PLACEHOLDER_REGISTRY_TOKEN } from "./helpers";
import { RealStack, graphOf, inside, judge, of, realStacks, resource } from "./policyFixtures";

/*
 * The policy pack (policy/), called offline on the real stacks' graphs: every gate passes
 * on dev, testprod and prod as their stack files declare them, and each gate reports the
 * breakage a deliberately broken copy of one of them carries, saying what to change.
 */

const FULL_SHA = /@[0-9a-f]{40}$/;

describe("policy pack: the quality gates", function () {
  this.timeout(60000);
  let stacks: RealStack[];
  const real = (stack: string, preview = false) => stacks.find((s) => s.stack === stack && s.preview === preview)!;
  const broken = (stack: string) => graphOf(real(stack));

  before(async () => {
    stacks = await realStacks();
  });

  describe("the real stacks", () => {
    it("pass every gate, updated and previewed (actions-pinned-by-sha aside, below)", async () => {
      assert.equal(stacks.length, 6);
      for (const s of stacks) {
        const result = await judge(graphOf(s), s.config);
        const found = result.violations.filter((v) => v.policy !== GATES.pinnedActions);
        assert.deepEqual(found, [], `${s.stack}${s.preview ? " (preview)" : ""}: ${found.map((v) => v.message).join("\n")}`);
      }
    });

    it("are judged, not skipped: each gate applies to the stack that has what it guards", async () => {
      const applies = async (stack: string, policy: string) =>
        !(await judge(graphOf(real(stack)), real(stack).config)).notApplicable.some((n) => n.policy === policy);
      assert.ok(await applies("prod", GATES.prodImage));
      assert.ok(await applies("prod", GATES.productionEnvironment));
      assert.ok(await applies("dev", GATES.requiredChecks));
      assert.ok(await applies("testprod", GATES.plainSecrets));
      assert.equal(await applies("testprod", GATES.prodImage), false, "testprod is not production");
    });

    it("actions-pinned-by-sha reports exactly the actions config/githubNames.ts pins by tag, each once per use, on dev only", async () => {
      const byTag = new Set(Object.values(ACTIONS).filter((a) => !FULL_SHA.test(a)));
      const found = of(await judge(graphOf(real("dev")), real("dev").config), GATES.pinnedActions);
      const named = new Set(found.map((v) => /: (\S+@\S+) (is|names|runs)/.exec(v.message)?.[1]));
      assert.deepEqual([...named].sort(), [...byTag].sort());
      for (const stack of ["testprod", "prod"]) assert.deepEqual(of(await judge(graphOf(real(stack)), undefined), GATES.pinnedActions), []);
      // Every pinned one passes: only the tag-pinned ones remain to be pinned.
      for (const a of Object.values(ACTIONS).filter((x) => FULL_SHA.test(x))) assert.equal(pinProblem(a), undefined, a);
    });
  });

  describe(GATES.prodImage, () => {
    const deploy = (g: GraphStack) => resource(g, "prod-compose-deploy");
    const settings = (g: GraphStack) => resource(g, "prod-compose-staged-deploy.json");
    const request = (g: GraphStack) => JSON.parse(String(deploy(g).wireInputs.stdin));
    const setRequest = (g: GraphStack, change: (r: any) => void) => {
      const r = request(g);
      change(r);
      deploy(g).wireInputs.stdin = JSON.stringify(r);
    };
    const setSettings = (g: GraphStack, change: (s: any) => void) => {
      const source = settings(g).wireInputs.source as { text: string };
      const doc = JSON.parse(source.text);
      change(doc);
      source.text = JSON.stringify(doc);
    };

    it("passes prod: the deploy asks for a digest, its staged settings back up first, and it waits for them", async () => {
      const g = broken("prod");
      assert.match(request(g).image, /^ghcr\.io\/rogerlew\/wepppy@sha256:[0-9a-f]{64}$/);
      assert.equal(settings(g).wireInputs.remotePath, `/opt/wepppy-cicd/releases/${request(g).releaseKey}/deploy.json`);
      assert.deepEqual(of(await judge(g, undefined), GATES.prodImage), []);
    });

    it("refuses a deploy asking for an image by tag, or for none in particular, naming how to pin it", async () => {
      for (const image of ["ghcr.io/rogerlew/wepppy:sha-" + "a".repeat(40), null]) {
        const g = broken("prod");
        setRequest(g, (r) => (r.image = image));
        const found = of(await judge(g, undefined), GATES.prodImage);
        assert.equal(found.length, 1, String(image));
        assert.equal(found[0].resource, "prod-compose-deploy");
        assert.equal(found[0].enforcementLevel, "mandatory");
        assert.match(found[0].message, /which is not pinned to a digest: .*wepppy-cicd promote sets wepppy-cicd:image\.digest/);
      }
    });

    it("refuses a deploy without the verified pre-deploy backup, without a database, or before its settings are staged", async () => {
      const off = broken("prod");
      setSettings(off, (s) => (s.backup.preDeploy = false));
      assert.match(of(await judge(off, undefined), GATES.prodImage).map((v) => v.message).join("\n"), /stages backup\.preDeploy: false: .*set wepppy-cicd:backup\.preDeploy: true in Pulumi\.prod\.yaml/);

      const nodb = broken("prod");
      setSettings(nodb, (s) => (s.dbService = ""));
      assert.match(of(await judge(nodb, undefined), GATES.prodImage)[0].message, /names no dbService/);

      // Not waiting, directly or through the staged manifest, for the settings.
      const early = broken("prod");
      const manifest = resource(early, "prod-compose-staged-manifest");
      deploy(early).dependencies = deploy(early).dependencies.filter((d) => d !== manifest.urn);
      const found = of(await judge(early, undefined), GATES.prodImage);
      assert.equal(found.length, 1);
      assert.match(found[0].message, /prod-compose-deploy does not wait for prod-compose-staged-deploy\.json: .*dependsOn/);

      const none = broken("prod");
      none.resources = none.resources.filter((r) => r.name !== "prod-compose-staged-deploy.json");
      assert.match(of(await judge(none, undefined), GATES.prodImage)[0].message, /deploys release [0-9a-f]{16}, but nothing stages its deploy\.json/);
    });

    it("says it cannot judge a deploy request a preview does not know yet (advisory, as the SDK reports it), instead of passing it", async () => {
      const g = broken("prod");
      deploy(g).wireInputs.stdin = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the engine's unknown string
      const found = of(await judge(g, undefined), GATES.prodImage);
      assert.deepEqual(found.map((v) => [v.enforcementLevel, v.cannotRun]), [["advisory", true]]);
      assert.match(found[0].message, /can't run policy 'prod-digest-pinned-after-backup' during preview: string value at \.stdin can't be known during preview/);
      assert.deepEqual(of(await judge(g, undefined), GATES.plainSecrets), [], "a scan skips what is not known");
    });

    it("refuses a deploy whose request it cannot read (secret or not JSON)", async () => {
      const g = broken("prod");
      deploy(g).wireInputs.stdin = "image=ghcr.io/rogerlew/wepppy:latest";
      assert.match(of(await judge(g, undefined), GATES.prodImage)[0].message, /prod-compose-deploy sends a stdin that is not JSON: the gate cannot see which image/);
    });
  });

  describe(GATES.productionEnvironment, () => {
    const env = (g: GraphStack) => resource(g, "github-environment-prod-environment");
    const branch = (g: GraphStack) => resource(g, "github-environment-prod-branch-master");
    const messages = async (g: GraphStack) => of(await judge(g, undefined), GATES.productionEnvironment).map((v) => v.message);

    it("passes prod's production environment: reviewers, no self-review, no admin bypass, master only", async () => {
      assert.deepEqual(await messages(broken("prod")), []);
    });

    it("refuses production without reviewers, naming the config key", async () => {
      const g = broken("prod");
      env(g).wireInputs.reviewers = [];
      assert.deepEqual(await messages(g), [
        "production has no required reviewers: a deployment to it needs nobody's approval; set wepppy-cicd:github.environment.reviewers (GitHub logins, at most 6) in Pulumi.prod.yaml",
      ]);
    });

    it("refuses self-review and an admin bypass", async () => {
      const g = broken("prod");
      env(g).wireInputs.preventSelfReview = false;
      env(g).wireInputs.canAdminsBypass = true;
      const found = await messages(g);
      assert.equal(found.length, 2);
      assert.match(found[0], /set preventSelfReview: true/);
      assert.match(found[1], /set canAdminsBypass: false/);
    });

    it("refuses deployments from other branches, tags, or any protected branch", async () => {
      const wild = broken("prod");
      branch(wild).wireInputs.branchPattern = "*";
      assert.match((await messages(wild))[0], /lets branches matching \* deploy to production: only master may; set branchPattern: master/);

      const tags = broken("prod");
      branch(tags).wireInputs.tagPattern = "v*";
      assert.match((await messages(tags))[0], /lets tags matching v\* deploy to production/);

      const protectedOnes = broken("prod");
      env(protectedOnes).wireInputs.deploymentBranchPolicy = { protectedBranches: true, customBranchPolicies: false };
      assert.match((await messages(protectedOnes))[0], /does not limit the branches .* set \{protectedBranches: false, customBranchPolicies: true\}/);

      const noPolicy = broken("prod");
      noPolicy.resources = noPolicy.resources.filter((r) => r.type !== TYPES.deploymentPolicy);
      assert.match((await messages(noPolicy))[0], /has no deployment branch policy/);
    });

    it("refuses a prod stack that declares no production environment at all", async () => {
      const g = broken("prod");
      g.resources = g.resources.filter((r) => r.type !== TYPES.environment);
      assert.match((await messages(g))[0], /^prod declares no GitHub environment production/);
    });
  });

  describe(GATES.hostKey, () => {
    it("passes every host command of testprod (each pins the key)", async () => {
      assert.deepEqual(of(await judge(broken("testprod"), undefined), GATES.hostKey), []);
    });

    it("refuses a command or a copy whose connection has no pinned key or something that is not a key", async () => {
      const g = broken("testprod");
      delete inside(resource(g, "testprod-compose-deploy").wireInputs.connection).hostKey;
      inside(resource(g, "testprod-compose-script").wireInputs.connection).hostKey = "any";
      const found = of(await judge(g, undefined), GATES.hostKey);
      assert.deepEqual(found.map((v) => v.resource).sort(), ["testprod-compose-deploy", "testprod-compose-script"]);
      assert.match(found.find((v) => v.resource === "testprod-compose-deploy")!.message, /connects to host forest1\.bearhive\.internal without a pinned host key \(none\): .*set wepppy-cicd:deploy\.hostKey/);
      assert.match(found.find((v) => v.resource === "testprod-compose-script")!.message, /not an OpenSSH public key line/);
    });
  });

  describe(GATES.plainSecrets, () => {
    const password = (g: GraphStack) => String(resource(g, "wepppy-secrets-postgres_password").state.result);

    it("finds a generated password in a command line, naming where it came from and never the value", async () => {
      const g = broken("testprod");
      const deploy = resource(g, "testprod-compose-deploy");
      deploy.wireInputs.create = `${deploy.wireInputs.create} --note ${password(g)}`;
      const found = of(await judge(g, real("testprod").config), GATES.plainSecrets);
      assert.equal(found.length, 1);
      assert.match(found[0].message, /^testprod-compose-deploy create carries wepppy-secrets-postgres_password result in plain text: .*pass it on stdin marked secret/);
      assert.ok(!found[0].message.includes(password(g)));
    });

    it("finds the registry token base64-encoded in a trigger, and the deploy key's body in a stack output", async () => {
      const g = broken("testprod");
      const timer = resource(g, "testprod-compose-backup-schedule");
      (timer.wireInputs.triggers as string[]).push(Buffer.from(PLACEHOLDER_REGISTRY_TOKEN).toString("base64"));
      g.outputs.note = `key: ${PLACEHOLDER_DEPLOY_KEY.split("\n")[1]}`;
      const found = of(await judge(g, real("testprod").config), GATES.plainSecrets).map((v) => v.message);
      assert.equal(found.length, 2, found.join("\n"));
      assert.match(found[0], /^stack output note carries .*privateKey in plain text/);
      assert.match(found[1], /^testprod-compose-backup-schedule triggers\[3\] carries .*(registry-login stdin|registry\.password) \(base64-encoded\)/);
      for (const m of found) assert.ok(!m.includes(PLACEHOLDER_REGISTRY_TOKEN) && !m.includes("PLACEHOLDER-DEPLOY-KEY"));
    });

    it("finds a repository secret written into a committed workflow", async () => {
      const g = broken("dev");
      const pr = resource(g, "github-repository-pr.yml");
      pr.wireInputs.content = `${pr.wireInputs.content}\n# ${PLACEHOLDER_REGISTRY_TOKEN}\n`;
      const found = of(await judge(g, real("dev").config), GATES.plainSecrets);
      assert.equal(found.length, 1);
      assert.match(found[0].message, /^github-repository-pr\.yml content carries /);
    });
  });

  describe(GATES.silentCommands, () => {
    const login = (g: GraphStack) => resource(g, "testprod-compose-registry-login");

    it("passes the secret-writing and registry-login commands as they are", async () => {
      assert.deepEqual(of(await judge(broken("testprod"), real("testprod").config), GATES.silentCommands), []);
    });

    it("refuses a command that receives a secret and logs its output", async () => {
      const g = broken("testprod");
      login(g).wireInputs.logging = "stdoutAndStderr";
      const found = of(await judge(g, real("testprod").config), GATES.silentCommands);
      assert.equal(found.length, 1);
      assert.match(found[0].message, /^testprod-compose-registry-login receives a secret on stdin but logs its output \(logging: stdoutAndStderr\): .*set logging: "none"/);
    });

    it("refuses one whose stdout stays plain", async () => {
      const g = broken("testprod");
      const secrets = resource(g, "testprod-compose-secrets");
      secrets.additionalSecretOutputs = secrets.additionalSecretOutputs.filter((k) => k !== "stdout");
      assert.match(of(await judge(g, undefined), GATES.silentCommands)[0].message, /testprod-compose-secrets receives a secret on stdin but keeps stdout in plain state: add "stdout" to its additionalSecretOutputs/);
    });

    it("recognises an undeclared secret on stdin by its value: a generated password's stream, or the secret config's token", async () => {
      const g = broken("testprod");
      const secrets = resource(g, "testprod-compose-secrets");
      secrets.additionalSecretOutputs = [];
      secrets.wireInputs.stdin = inside(secrets.wireInputs.stdin);
      secrets.wireInputs.logging = "stdoutAndStderr";
      const found = of(await judge(g, undefined), GATES.silentCommands).map((v) => v.message);
      assert.equal(found.length, 2);
      assert.match(found[0], /testprod-compose-secrets receives wepppy-secrets-\w+ result in stdin but logs its output/);

      // The registry token is known twice: as the test-production environment's REGISTRY_TOKEN
      // (a secret GitHub resource in the graph) and in the stack's secret config.
      const bare = broken("testprod");
      login(bare).additionalSecretOutputs = ["connection"];
      login(bare).wireInputs.stdin = inside(login(bare).wireInputs.stdin);
      login(bare).wireInputs.logging = "stdoutAndStderr";
      const fromGraph = of(await judge(bare, undefined), GATES.silentCommands);
      assert.equal(fromGraph.length, 2);
      assert.match(fromGraph[0].message, /registry-login receives github-environment-testprod-secret-REGISTRY_TOKEN value in stdin/);
      const withConfig = of(await judge(bare, real("testprod").config), GATES.silentCommands);
      assert.equal(withConfig.length, 2);
      assert.match(withConfig[0].message, /registry-login receives (config wepppy-cicd:registry\.password|github-environment-testprod-secret-REGISTRY_TOKEN value) in stdin/);
    });
  });

  describe(GATES.requiredChecks, () => {
    const ruleset = (g: GraphStack) => resource(g, "github-repository-master-ruleset");
    const pr = (g: GraphStack) => resource(g, "github-repository-pr.yml");
    const messages = async (g: GraphStack) => of(await judge(g, undefined), GATES.requiredChecks).map((v) => v.message);
    const required = (g: GraphStack) => (ruleset(g).wireInputs.rules as any).requiredStatusChecks.requiredChecks as { context: string }[];

    it("passes dev: the master ruleset requires exactly the PR workflow's jobs", async () => {
      assert.ok(required(broken("dev")).length >= 7);
      assert.deepEqual(await messages(broken("dev")), []);
    });

    it("refuses a ruleset that misses a job, or requires one the workflow does not run", async () => {
      const missing = broken("dev");
      (ruleset(missing).wireInputs.rules as any).requiredStatusChecks.requiredChecks = required(missing).filter((c) => c.context !== "lint");
      assert.deepEqual(await messages(missing), [
        "github-repository-master-ruleset does not require lint, which .github/workflows/pr.yml runs: a PR could merge with it failing; add it to requiredStatusChecks",
      ]);

      const stale = broken("dev");
      const doc = parse(String(pr(stale).wireInputs.content));
      delete doc.jobs["test-go"];
      pr(stale).wireInputs.content = stringify(doc);
      assert.match((await messages(stale))[0], /requires test-go, which \.github\/workflows\/pr\.yml does not run: every PR would wait for it forever/);
    });

    it("refuses a matrix job (its check names cannot be read) and a PR workflow nothing requires", async () => {
      const matrix = broken("dev");
      const doc = parse(String(pr(matrix).wireInputs.content));
      doc.jobs.lint.strategy = { matrix: { python: ["3.11", "3.12"] } };
      pr(matrix).wireInputs.content = stringify(doc);
      assert.match((await messages(matrix))[0], /job lint has a matrix/);

      const unguarded = broken("dev");
      unguarded.resources = unguarded.resources.filter((r) => r.type !== TYPES.ruleset);
      assert.match((await messages(unguarded))[0], /no ruleset for refs\/heads\/master requires its checks/);
    });
  });

  describe(GATES.pinnedActions, () => {
    const sha = "0123456789abcdef0123456789abcdef01234567";
    const workflow = (uses: string[]) =>
      stringify({ name: "x", on: { push: {} }, jobs: { a: { "runs-on": ["self-hosted"], steps: uses.map((u, i) => ({ name: `s${i}`, uses: u })) } } });
    /** dev's graph with every committed workflow replaced by one that uses these. */
    const devWith = (uses: string[]) => {
      const g = broken("dev");
      for (const f of g.resources.filter((r) => r.type === TYPES.file)) f.wireInputs.content = workflow(uses);
      return g;
    };

    it("passes actions and reusable workflows pinned to a full SHA, local actions and images pinned to a digest", async () => {
      const g = devWith([`actions/checkout@${sha}`, `github/codeql-action/upload-sarif@${sha}`, "./.github/actions/setup", `docker://alpine@sha256:${"b".repeat(64)}`]);
      assert.deepEqual(of(await judge(g, undefined), GATES.pinnedActions), []);
    });

    it("refuses a tag, a branch, an abbreviated SHA, no version, a docker tag, and says how to pin each", async () => {
      const uses = ["actions/setup-node@v4", "pulumi/actions@main", "docker/login-action@5e57cd1", "someone/action", "docker://alpine:3.20"];
      const g = devWith(uses);
      g.resources = g.resources.filter((r) => r.type !== TYPES.file || r.name.endsWith("pr.yml"));
      const found = of(await judge(g, undefined), GATES.pinnedActions).map((v) => v.message);
      assert.equal(found.length, uses.length);
      assert.match(found[0], /job a, step 1 \(s0\): actions\/setup-node@v4 is pinned by the tag or branch "v4", which can be moved: pin actions\/setup-node to the commit SHA of v4 \(git ls-remote https:\/\/github\.com\/actions\/setup-node/);
      assert.match(found[1], /pulumi\/actions@main is pinned by the tag or branch "main"/);
      assert.match(found[2], /abbreviated SHA 5e57cd1: use the full 40-hex commit/);
      assert.match(found[3], /someone\/action names no version/);
      assert.match(found[4], /runs the image alpine:3\.20 by tag: pin it to its digest/);
    });

    it("checks reusable workflow calls and composite actions too", async () => {
      const g = broken("dev");
      const f = resource(g, "github-repository-pr.yml");
      f.wireInputs.content = stringify({ on: { push: {} }, jobs: { call: { uses: "org/repo/.github/workflows/x.yml@v1" } } });
      const action = JSON.parse(JSON.stringify(f));
      action.name = "github-repository-action.yml";
      action.urn = f.urn.replace("pr.yml", "action.yml");
      action.wireInputs.file = ".github/actions/setup/action.yml";
      action.wireInputs.content = stringify({ runs: { using: "composite", steps: [{ uses: "actions/cache@v4" }] } });
      g.resources.push(action);
      const found = of(await judge(g, undefined), GATES.pinnedActions).filter((v) => /pr\.yml|action\.yml/.test(v.resource ?? ""));
      assert.deepEqual(found.map((v) => v.message.split(":")[0]).sort(), [".github/actions/setup/action.yml step 1", ".github/workflows/pr.yml job call (reusable workflow)"]);
    });
  });

  describe("enforcement", () => {
    it("is mandatory unless the pack config says otherwise; a disabled gate does not run", async () => {
      const g = broken("testprod");
      delete inside(resource(g, "testprod-compose-deploy").wireInputs.connection).hostKey;
      assert.equal(of(await judge(g, undefined), GATES.hostKey)[0].enforcementLevel, "mandatory");
      assert.equal(of(await judge(g, undefined, { config: { [GATES.hostKey]: "advisory" } }), GATES.hostKey)[0].enforcementLevel, "advisory");
      assert.deepEqual(of(await judge(g, undefined, { config: { [GATES.hostKey]: { enforcementLevel: "disabled" } } }), GATES.hostKey), []);
    });

    it("takes each gate's settings from the pack config", async () => {
      const result = await judge(broken("dev"), undefined, { config: { [GATES.requiredChecks]: { branch: "main" } } });
      assert.match(of(result, GATES.requiredChecks)[0].message, /no ruleset for refs\/heads\/main requires its checks/);
      const prodAsTest = await judge(broken("testprod"), undefined, { config: { [GATES.prodImage]: { productionStacks: ["testprod"] } } });
      assert.deepEqual(of(prodAsTest, GATES.prodImage).map((v) => v.message), [
        "testprod-compose-staged-deploy.json stages backup.preDeploy: false: production deploys only after a verified pre-deploy backup; set wepppy-cicd:backup.preDeploy: true in Pulumi.testprod.yaml",
      ]);
    });

    it("the committed pack config (the PR workflow's) names only gates of the pack, with valid levels", () => {
      const config = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "policy/policy-config.json"), "utf8"));
      const names = gatePolicies().map((p) => p.name);
      assert.deepEqual(names.sort(), Object.values(GATES).sort());
      for (const [name, value] of Object.entries(config)) {
        assert.ok(names.includes(name), `${name} is not a gate`);
        const level = typeof value === "string" ? value : (value as { enforcementLevel?: string }).enforcementLevel;
        assert.ok(["advisory", "mandatory", "disabled"].includes(String(level)), `${name}: ${level}`);
      }
    });
  });
});
