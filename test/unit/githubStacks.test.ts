import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ENVIRONMENTS, NAMESPACE, STACKS, StackName } from "../../config/environments";
import {
  ACTIONS,
  DRIFT_ENVIRONMENT,
  ENVIRONMENT_SECRET_SUFFIX,
  OWNER_ONLY_SECRETS,
  PR_JOBS,
  REPOSITORY_OWNER_STACK,
  SECRET_TABLE,
} from "../../config/githubNames";
import { jobLabels } from "../../config/runnerNames";
import { runner as runnerSection } from "../../config/sections/runner";
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
/** The dynamic providers' GitHub objects (components/githubRest.ts). */
const DYNAMIC = "pulumi-nodejs:dynamic/github:";
const isGithub = (r: RegisteredResource) => r.type.startsWith(GH) || r.type === `${DYNAMIC}ActionsPolicy`;
const policyOf = (ev: Evaluation) => ev.resources.filter((r) => r.type === `${DYNAMIC}ActionsPolicy`);
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
    case "ActionsPolicy":
      return `actions-policy ${i.owner}/${repo}`;
    default:
      throw new Error(`no identity rule for ${r.type}: add one before declaring it`);
  }
}

/** Placeholder values: generated passwords, and the secrets each stack's environment secrets come from. */
const PLACEHOLDER = "PLACEHOLDER-SECRET-";
const REGISTRY_USER = "rogerlew";
const OWNER_OVERRIDES = {
  [OWNER_ONLY_SECRETS.adminToken]: `${PLACEHOLDER}dev-admin-token`,
  "secrets.github_read_token": `${PLACEHOLDER}dev-read-token`,
};
const environmentOverrides = (stack: StackName) => ({
  registry: { username: REGISTRY_USER, password: `${PLACEHOLDER}${stack}-registry.password` },
  "secrets.github_environments_token": `${PLACEHOLDER}${stack}-environments-token`,
});
/** The value each environment secret must carry, by stack and SECRET_TABLE source. */
function expectedValue(stack: StackName, source: string): string {
  if (source === "registry.username") return REGISTRY_USER;
  if (source === "registry.password") return `${PLACEHOLDER}${stack}-registry.password`;
  if (source === "secrets.github_environments_token") return `${PLACEHOLDER}${stack}-environments-token`;
  if (source === "secrets.github_read_token") return `${PLACEHOLDER}dev-read-token`;
  throw new Error(`no expected value for ${source}`);
}

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
          config: stackConfig(stack, stack === REPOSITORY_OWNER_STACK ? OWNER_OVERRIDES : environmentOverrides(stack)),
          stackOutputs: evaluations.has("testprod") ? { testprod: evaluations.get("testprod")!.outputs } : {},
        }),
      );
    }
  });

  it("declares GitHub objects in every stack", () => {
    for (const ev of evaluations.values()) assert.ok(ev.resources.some(isGithub), `${ev.stack} declares no GitHub object`);
  });

  it("dev owns the repository plumbing: the workflows, the master ruleset, the Actions policy, the drift environment, and no repository secret", () => {
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
    assert.deepEqual(ofType(ev, "ActionsSecret"), [], "a repository secret reaches workflows on every branch");
    assert.equal(policyOf(ev).length, 1);
    assert.deepEqual(ofType(ev, "RepositoryEnvironment").map((e) => e.inputs.environment), [DRIFT_ENVIRONMENT]);
    assert.deepEqual(
      ofType(ev, "ActionsEnvironmentSecret").map((s) => [s.inputs.environment, s.inputs.secretName]).sort(),
      Object.keys(SECRET_TABLE.drift).map((n) => [DRIFT_ENVIRONMENT, n]).sort(),
    );
    assert.deepEqual(providerOf(ev).map((p) => p.inputs.owner), [cfg.owner, cfg.owner]);
  });

  it("dev's graph holds the Actions policy: every outside contributor's run waits for approval, only the workflows' pinned actions run", () => {
    const ev = evaluations.get("dev")!;
    const [policy] = policyOf(ev);
    const cfg = runnerSection.parse(stackFile("dev").runner ?? {});
    assert.equal(policy.inputs.approvalPolicy, "all_external_contributors");
    assert.equal(policy.inputs.approvalPolicy, cfg.policy.approval);
    assert.equal(policy.inputs.shaPinningRequired, true);
    assert.equal(policy.inputs.githubOwnedAllowed, false);
    assert.equal(policy.inputs.verifiedAllowed, false);
    assert.equal(policy.inputs.owner, githubConfigOf("dev").owner);
    assert.equal(policy.inputs.token, OWNER_OVERRIDES[OWNER_ONLY_SECRETS.adminToken]);
    assert.equal(plainPart(policy.wireInputs.token), "[secret]", "the token is secret on the wire");
    // The allow-list is exactly what the committed workflows use, pinned by SHA.
    const used = new Set<string>();
    for (const f of ofType(ev, "RepositoryFile")) {
      for (const m of (f.inputs.content as string).matchAll(/uses: (\S+)/g)) used.add(m[1]);
    }
    assert.deepEqual([...used].sort(), [...policy.inputs.allowedActions].sort());
    assert.deepEqual([...policy.inputs.allowedActions].sort(), Object.values(ACTIONS).sort());
  });

  it("dev refuses to update without the token of the Actions policy, naming the key", async () => {
    await assert.rejects(
      evaluateWithGithub("dev", { preview: false, create: placeholderCreate("dev"), config: stackConfig("dev", { "deploy.hostKey": undefined }) }),
      /secrets\.github_admin_token/,
    );
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
        [...["POSTGRES_PASSWORD", "SECRET_KEY", "SECURITY_PASSWORD_SALT"].map((b) => `${b}${suffix}`), ...Object.keys(SECRET_TABLE.deploy)]
          .map((n) => [name, n])
          .sort(),
      );
      assert.equal(ENVIRONMENT_SECRET_SUFFIX[stack], suffix.slice(1));
      assert.deepEqual(ofType(ev, "RepositoryFile"), []);
      assert.deepEqual(ofType(ev, "RepositoryRuleset"), []);
      assert.deepEqual(ofType(ev, "ActionsSecret"), []);
      assert.deepEqual(policyOf(ev), []);
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

  it("every job runs on the runners' labels, and the deploy jobs use the environments the stacks declare, at their URLs", () => {
    const dev = evaluations.get("dev")!;
    const out = dev.outputs.github as { jobLabels: Record<string, string[]> };
    const declared = new Map<string, string>();
    for (const stack of ["testprod", "prod"] as const) {
      for (const e of ofType(evaluations.get(stack)!, "RepositoryEnvironment")) declared.set(e.inputs.environment, stack);
    }
    const used = new Map<string, string>();
    for (const f of ofType(dev, "RepositoryFile")) {
      const wf = parse(f.inputs.content);
      for (const [id, job] of Object.entries(wf.jobs as Record<string, any>)) {
        const labels = JSON.stringify(job["runs-on"]);
        assert.ok(Object.values(out.jobLabels).some((l) => JSON.stringify(l) === labels), `${f.inputs.file} ${id} runs on ${labels}`);
        if (job.environment) used.set(job.environment.name, job.environment.url);
      }
    }
    assert.equal(declared.size, 2);
    // The drift environment is dev's own, and protected the same way.
    const drift = ofType(dev, "RepositoryEnvironment").find((e) => e.inputs.environment === DRIFT_ENVIRONMENT)!;
    assert.deepEqual(drift.inputs.deploymentBranchPolicy, { protectedBranches: false, customBranchPolicies: true });
    assert.deepEqual(
      ofType(dev, "RepositoryEnvironmentDeploymentPolicy").map((p) => [p.inputs.environment, p.inputs.branchPattern]),
      [[DRIFT_ENVIRONMENT, "master"]],
    );
    declared.set(DRIFT_ENVIRONMENT, "dev");
    assert.deepEqual([...used.keys()].sort(), [...declared.keys()].sort());
    for (const [name, url] of used) {
      if (name === DRIFT_ENVIRONMENT) continue;
      const stack = declared.get(name) as StackName;
      assert.equal(url, `https://${stackFile(stack).site.domain}`, `${name} URL`);
    }
    assert.deepEqual(out.jobLabels, jobLabels(runnerSection.parse(stackFile("dev").runner ?? {})));
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
    for (const stack of ["testprod", "prod"] as const) {
      for (const [name, { source }] of Object.entries(SECRET_TABLE.deploy)) {
        const secret = ofType(evaluations.get(stack)!, "ActionsEnvironmentSecret").find((s) => s.inputs.secretName === name)!;
        assert.equal(secret.inputs.value, expectedValue(stack, source), `${stack} ${name}`);
      }
    }
    for (const [name, { source }] of Object.entries(SECRET_TABLE.drift)) {
      const secret = ofType(evaluations.get("dev")!, "ActionsEnvironmentSecret").find((s) => s.inputs.secretName === name)!;
      assert.equal(secret.inputs.value, expectedValue("dev", source), name);
    }
  });

  it("declares no environment secret whose value was never set, nor the policy without its token, and says so", async () => {
    const dev = await evaluateWithGithub("dev", { preview: true });
    assert.deepEqual(ofType(dev, "ActionsEnvironmentSecret"), []);
    assert.deepEqual(policyOf(dev), []);
    assert.ok(dev.warnings.some((w) => w.includes(`${NAMESPACE}:secrets.github_admin_token`)));
    assert.ok(dev.warnings.some((w) => w.includes("CICD_READ_TOKEN") && w.includes(`${NAMESPACE}:secrets.github_read_token`)));
    const testprod = await evaluateWithGithub("testprod", { preview: true });
    assert.ok(testprod.warnings.some((w) => w.includes("CICD_ENVIRONMENTS_TOKEN") && w.includes("REGISTRY_TOKEN")));
  });

  it("GitHub refuses secret names starting with GITHUB_; none is declared", () => {
    for (const ev of evaluations.values()) {
      for (const s of ev.resources.filter((r) => r.type.endsWith("Secret"))) {
        assert.match(s.inputs.secretName, /^(?!GITHUB_)[A-Z][A-Z0-9_]*$/);
      }
    }
  });
});
