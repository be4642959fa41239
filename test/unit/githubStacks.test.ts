import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ENVIRONMENTS, NAMESPACE, STACKS, StackName } from "../../config/environments";
import { ENVIRONMENT_SECRET_SUFFIX, PR_JOBS, REPOSITORY_OWNER_STACK, SECRET_TABLE } from "../../config/githubNames";
import { GithubConfig, github } from "../../config/sections/github";
import { GithubEnvironment } from "../../program/components/githubEnvironment";
import { Evaluation, EvaluateOptions, RegisteredResource, ResourceRequest, SECRET_SIG, evaluateStack } from "../../harness/evaluate";
import { PROJECT_ROOT } from "../../config/paths";
import { fakeGithubId, registryAnswer, stackConfig } from "./helpers";

/* The GitHub side of each stack under the mock engine, each from its own stack file. */

function stackFile(stack: StackName): Record<string, any> {
  const doc = parse(fs.readFileSync(path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`), "utf8"));
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(`${NAMESPACE}:`, ""), v]));
}

/** The github config a stack runs with, read independently of the program. */
function githubConfigOf(stack: StackName): GithubConfig {
  return github.parse(stackFile(stack).github ?? {});
}

function evaluateWithGithub(stack: StackName, options: Partial<EvaluateOptions> = {}): Promise<Evaluation> {
  return evaluateStack({ stack, config: stackConfig(stack), invoke: registryAnswer, ...options });
}

const GH = "github:index/";
const isGithub = (r: RegisteredResource) => r.type.startsWith(GH);
/** Resources of one @pulumi/github class, e.g. "RepositoryFile" is github:index/repositoryFile:RepositoryFile. */
const ofType = (ev: Evaluation, kind: string) =>
  ev.resources.filter((r) => r.type === `${GH}${kind[0].toLowerCase()}${kind.slice(1)}:${kind}`);
const providerOf = (ev: Evaluation) => ev.resources.filter((r) => r.type === "pulumi:providers:github");

/** What makes a GitHub object itself: two declarations with the same identity fight over one object. */
function identity(r: RegisteredResource): string {
  const i = r.inputs;
  const repo = i.repository ?? i.repositoryId;
  switch (r.type.split(":").pop()) {
    case "RepositoryFile":
      return `file ${repo} ${i.branch} ${i.file}`;
    case "RepositoryRuleset":
      return `ruleset ${repo} ${JSON.stringify(i.conditions?.refName?.includes)}`;
    case "ActionsSecret":
      return `secret ${repo} ${i.secretName}`;
    case "ActionsEnvironmentSecret":
      return `environment-secret ${repo} ${i.environment} ${i.secretName}`;
    case "RepositoryEnvironment":
      return `environment ${repo} ${i.environment}`;
    case "RepositoryEnvironmentDeploymentPolicy":
      return `deployment-policy ${repo} ${i.environment} ${i.branchPattern}`;
    default:
      throw new Error(`no identity rule for ${r.type}: add one before declaring it`);
  }
}

/** Placeholder values: generated passwords, and the repository secrets set as secret config. */
const PLACEHOLDER = "PLACEHOLDER-SECRET-";
const PLACEHOLDER_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${PLACEHOLDER}deployKey\n-----END OPENSSH PRIVATE KEY-----\n`;
const REGISTRY_USER = "rogerlew";
const REPOSITORY_SECRET_OVERRIDES = {
  deployKey: PLACEHOLDER_KEY,
  registry: { username: REGISTRY_USER, password: `${PLACEHOLDER}registry.password` },
  "secrets.cicd_github_token": `${PLACEHOLDER}secrets.cicd_github_token`,
};
/** The value each repository secret must carry, by its SECRET_TABLE source. */
const EXPECTED_REPOSITORY_VALUE: Record<string, string> = {
  deployKey: PLACEHOLDER_KEY,
  "registry.username": REGISTRY_USER,
  "registry.password": `${PLACEHOLDER}registry.password`,
  "secrets.cicd_github_token": `${PLACEHOLDER}secrets.cicd_github_token`,
};

function placeholderCreate(stack: StackName) {
  return async (r: ResourceRequest) => {
    if (r.type === "random:index/randomPassword:RandomPassword") {
      return { state: { ...r.inputs, result: `${PLACEHOLDER}${stack}-${r.name}` } };
    }
    return { state: r.inputs };
  };
}

/** The wire form with every secret-wrapped value removed: what remains is plain. */
function plainPart(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainPart);
  if (typeof value === "object" && value !== null) {
    if (Object.values(value).includes(SECRET_SIG)) return "[secret]";
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainPart(v)]));
  }
  return value;
}

describe("the GitHub side of each stack", function () {
  this.timeout(60000);
  const evaluations = new Map<StackName, Evaluation>();

  // Preview, as the PR check runs it: `pulumi up` refuses a stack whose host key is not pinned.
  before(async () => {
    for (const stack of ["dev", "testprod", "prod"] as const) {
      evaluations.set(
        stack,
        await evaluateWithGithub(stack, {
          preview: true,
          create: placeholderCreate(stack),
          config: stackConfig(stack, stack === REPOSITORY_OWNER_STACK ? REPOSITORY_SECRET_OVERRIDES : {}),
          stackOutputs: evaluations.has("testprod") ? { testprod: evaluations.get("testprod")!.outputs } : {},
        }),
      );
    }
  });

  it("declares GitHub objects in every stack", () => {
    for (const ev of evaluations.values()) assert.ok(ev.resources.some(isGithub), `${ev.stack} declares no GitHub object`);
  });

  it("dev owns the repository plumbing: the workflows, the master ruleset, the repository secrets", () => {
    const ev = evaluations.get("dev")!;
    const cfg = githubConfigOf("dev");
    assert.deepEqual(
      ofType(ev, "RepositoryFile").map((r) => r.inputs.file).sort(),
      [".github/workflows/deploy-prod.yml", ".github/workflows/main.yml", ".github/workflows/nightly.yml", ".github/workflows/pr.yml", ".github/workflows/rollback-prod.yml"],
    );
    for (const f of ofType(ev, "RepositoryFile")) {
      assert.equal(f.inputs.repository, cfg.repository);
      assert.equal(f.inputs.branch, cfg.branch);
    }
    const rulesets = ofType(ev, "RepositoryRuleset");
    assert.equal(rulesets.length, 1);
    assert.deepEqual(rulesets[0].inputs.conditions.refName.includes, [`refs/heads/${cfg.branch}`]);
    assert.deepEqual(
      ofType(ev, "ActionsSecret").map((r) => r.inputs.secretName).sort(),
      Object.keys(SECRET_TABLE.repository).sort(),
    );
    assert.deepEqual(ofType(ev, "RepositoryEnvironment"), []);
    assert.deepEqual(ofType(ev, "ActionsEnvironmentSecret"), []);
    assert.deepEqual(providerOf(ev).map((p) => p.inputs.owner), [cfg.owner]);
  });

  for (const stack of ["testprod", "prod"] as const) {
    it(`${stack} owns its environment ${ENVIRONMENTS[stack].githubEnvironment} and that environment's secrets, nothing else`, () => {
      const ev = evaluations.get(stack)!;
      const cfg = githubConfigOf(stack);
      const name = ENVIRONMENTS[stack].githubEnvironment;
      const envs = ofType(ev, "RepositoryEnvironment");
      assert.deepEqual(envs.map((e) => [e.inputs.repository, e.inputs.environment]), [[cfg.repository, name]]);
      const policies = ofType(ev, "RepositoryEnvironmentDeploymentPolicy");
      assert.deepEqual(policies.map((p) => [p.inputs.environment, p.inputs.branchPattern, p.inputs.tagPattern]), [[name, "master", undefined]]);
      assert.deepEqual(envs[0].inputs.deploymentBranchPolicy, { protectedBranches: false, customBranchPolicies: true });
      const suffix = stack === "prod" ? "_PROD" : "_TESTPROD";
      assert.deepEqual(
        ofType(ev, "ActionsEnvironmentSecret").map((s) => [s.inputs.environment, s.inputs.secretName]).sort(),
        ["POSTGRES_PASSWORD", "SECRET_KEY", "SECURITY_PASSWORD_SALT"].map((b) => [name, `${b}${suffix}`]).sort(),
      );
      assert.equal(ENVIRONMENT_SECRET_SUFFIX[stack], suffix.slice(1));
      assert.deepEqual(ofType(ev, "RepositoryFile"), []);
      assert.deepEqual(ofType(ev, "RepositoryRuleset"), []);
      assert.deepEqual(ofType(ev, "ActionsSecret"), []);
    });
  }

  it("test-production deploys without reviewers; production needs the configured reviewers and forbids self-review", () => {
    const tp = ofType(evaluations.get("testprod")!, "RepositoryEnvironment")[0].inputs;
    assert.deepEqual(tp.reviewers ?? [], []);
    assert.equal(tp.preventSelfReview, false);
    const prod = ofType(evaluations.get("prod")!, "RepositoryEnvironment")[0].inputs;
    const cfg = githubConfigOf("prod");
    assert.ok((cfg.environment.reviewers ?? []).length > 0, "the prod stack's config names no reviewer");
    assert.deepEqual(prod.reviewers, [{ users: cfg.environment.reviewers!.map(fakeGithubId), teams: [] }]);
    assert.equal(prod.preventSelfReview, true);
    assert.equal(prod.canAdminsBypass, false);
    assert.equal(prod.waitTimer, cfg.environment.waitMinutes);
  });

  it("refuses a production without reviewers and a test production with them", () => {
    const policy = (reviewersRequired: boolean) => ({ reviewersRequired, preventSelfReview: reviewersRequired });
    assert.throws(() => GithubEnvironment.reviewers({ environment: "production", policy: policy(true) }), /must be approved/);
    assert.throws(
      () => GithubEnvironment.reviewers({ environment: "test-production", policy: policy(false), reviewers: ["rogerlew"] }),
      /without approval/,
    );
    assert.throws(
      () => GithubEnvironment.reviewers({ environment: "production", policy: policy(true), reviewers: ["a", "b", "c", "d", "e", "f", "g"] }),
      /at most 6/,
    );
  });

  it("no GitHub object is declared by two stacks, and all target the configured repository", () => {
    const owners = new Map<string, StackName>();
    for (const stack of STACKS) {
      const cfg = githubConfigOf(stack);
      for (const r of evaluations.get(stack)!.resources.filter(isGithub)) {
        assert.equal(r.inputs.repository, cfg.repository, `${r.type} ${r.name}`);
        const id = identity(r);
        assert.ok(!owners.has(id), `${id} is declared by ${owners.get(id)} and ${stack}`);
        owners.set(id, stack);
      }
      for (const p of providerOf(evaluations.get(stack)!)) assert.equal(p.inputs.owner, cfg.owner);
    }
    assert.ok(owners.size >= 15);
  });

  it("the identity rule tells two declarations of one object apart from two objects", () => {
    const file = (branch: string, f: string) =>
      ({ type: `${GH}repositoryFile:RepositoryFile`, inputs: { repository: "r", branch, file: f } }) as unknown as RegisteredResource;
    assert.equal(identity(file("master", "a.yml")), identity(file("master", "a.yml")));
    assert.notEqual(identity(file("master", "a.yml")), identity(file("master", "b.yml")));
  });

  it("the ruleset requires exactly the PR workflow's checks, from GitHub Actions, up to date, linear, no force pushes", () => {
    const ev = evaluations.get("dev")!;
    const pr = ofType(ev, "RepositoryFile").find((f) => f.inputs.file.endsWith("/pr.yml"))!;
    const workflow = parse(pr.inputs.content);
    // GitHub names a job's check by its `name:` (matrix values appended), else by its id.
    const checkNames = Object.entries(workflow.jobs as Record<string, any>).map(([id, job]) => {
      assert.equal(job.strategy, undefined, `${id} has a matrix: its check names depend on the values`);
      return job.name ?? id;
    });
    const rules = ofType(ev, "RepositoryRuleset")[0].inputs.rules;
    const required = rules.requiredStatusChecks.requiredChecks;
    assert.deepEqual(required.map((c: any) => c.context).sort(), checkNames.sort());
    assert.deepEqual(checkNames.sort(), Object.values(PR_JOBS).sort());
    for (const c of required) assert.equal(c.integrationId, 15368, "a check must come from GitHub Actions");
    assert.equal(rules.requiredStatusChecks.strictRequiredStatusChecksPolicy, true);
    assert.equal(rules.requiredLinearHistory, true);
    assert.equal(rules.nonFastForward, true);
    assert.equal(rules.deletion, true);
    assert.deepEqual(rules.pullRequest.allowedMergeMethods, ["squash", "rebase"], "linear history allows no merge commits");
    assert.equal(ofType(ev, "RepositoryRuleset")[0].inputs.enforcement, "active");
    assert.deepEqual(workflow.on.pull_request.paths ?? workflow.on.pull_request["paths-ignore"], undefined, "a filtered-out run leaves required checks pending");
  });

  it("every job runs on the runner's labels, and the deploy jobs use the environments the other stacks declare, at their URLs", () => {
    const dev = evaluations.get("dev")!;
    const out = dev.outputs.github as { runnerLabels: string[]; builderLabels: string[] };
    const declared = new Map<string, string>();
    for (const stack of ["testprod", "prod"] as const) {
      for (const e of ofType(evaluations.get(stack)!, "RepositoryEnvironment")) declared.set(e.inputs.environment, stack);
    }
    const used = new Map<string, string>();
    for (const f of ofType(dev, "RepositoryFile")) {
      const wf = parse(f.inputs.content);
      for (const [id, job] of Object.entries(wf.jobs as Record<string, any>)) {
        const labels = JSON.stringify(job["runs-on"]);
        assert.ok(
          labels === JSON.stringify(out.runnerLabels) || labels === JSON.stringify(out.builderLabels),
          `${f.inputs.file} ${id} runs on ${labels}`,
        );
        if (job.environment) used.set(job.environment.name, job.environment.url);
      }
    }
    assert.equal(declared.size, 2);
    assert.deepEqual([...used.keys()].sort(), [...declared.keys()].sort());
    for (const [name, url] of used) {
      const stack = declared.get(name) as StackName;
      assert.equal(url, `https://${stackFile(stack).site.domain}`, `${name} URL`);
    }
    assert.deepEqual(out.runnerLabels, githubConfigOf("dev").runner.labels);
  });

  it("no secret value reaches a plain input or a stack output, and environment secrets carry the hosts' values", () => {
    let secretFields = 0;
    for (const ev of evaluations.values()) {
      for (const r of ev.resources) {
        const plain = JSON.stringify(plainPart(r.wireInputs));
        assert.ok(!plain.includes(PLACEHOLDER), `${ev.stack}: ${r.type} ${r.name} has a secret in a plain input: ${plain.slice(0, 200)}`);
        if (r.type.endsWith("Secret")) {
          assert.equal(plainPart(r.wireInputs.value), "[secret]", `${r.type} ${r.name}: value is not marked secret`);
          secretFields++;
        }
      }
      const outputs = JSON.stringify(ev.outputs);
      assert.ok(!outputs.includes(PLACEHOLDER), `${ev.stack}: a secret is in the stack outputs`);
    }
    assert.ok(secretFields >= 10);
    for (const stack of ["testprod", "prod"] as const) {
      const ev = evaluations.get(stack)!;
      for (const [base, composeName] of Object.entries(SECRET_TABLE.environment)) {
        const secret = ofType(ev, "ActionsEnvironmentSecret").find((s) => s.inputs.secretName.startsWith(`${base}_`))!;
        assert.equal(secret.inputs.value, `${PLACEHOLDER}${stack}-wepppy-secrets-${composeName}`, `${stack} ${base}`);
      }
    }
    const dev = evaluations.get("dev")!;
    for (const [name, { source }] of Object.entries(SECRET_TABLE.repository)) {
      const secret = ofType(dev, "ActionsSecret").find((s) => s.inputs.secretName === name)!;
      assert.equal(secret.inputs.value, EXPECTED_REPOSITORY_VALUE[source], name);
    }
  });

  it("declares no repository secret whose value was never set, and says so", async () => {
    const ev = await evaluateWithGithub("dev", { preview: true });
    assert.deepEqual(ofType(ev, "ActionsSecret"), []);
    assert.ok(ev.warnings.some((w) => w.includes("RUNNER_DEPLOY_KEY") && w.includes(`${NAMESPACE}:deployKey`)));
  });

  it("GitHub refuses secret names starting with GITHUB_; none is declared", () => {
    for (const ev of evaluations.values()) {
      for (const s of ev.resources.filter((r) => r.type.endsWith("Secret"))) {
        assert.match(s.inputs.secretName, /^(?!GITHUB_)[A-Z][A-Z0-9_]*$/);
      }
    }
  });
});
