import { strict as assert } from "node:assert";
import {
  ActionsPolicyInputs,
  ActionsPolicyOutputs,
  GithubApiError,
  RunnerRegistrationInputs,
  RunnerRegistrationOutputs,
  actionsPolicyCrud,
  githubRequest,
  runnerRegistrationCrud,
} from "../../program/components/githubRest";
import { FakeGithub, startFakeGithub } from "./githubApiServer";

/*
 * The dynamic providers' CRUD functions, called as the engine calls them, against a local
 * server that implements GitHub's endpoints with state, auth and body validation.
 */

const TOKEN = "PLACEHOLDER-ADMIN-TOKEN-9d1e";
const REPO = "rogerlew/wepppy";

describe("GitHub REST dynamic providers", () => {
  let gh: FakeGithub;
  beforeEach(async () => {
    gh = await startFakeGithub(TOKEN, [REPO]);
  });
  afterEach(() => gh.close());

  const target = () => ({ apiUrl: gh.url, owner: "rogerlew", repository: "wepppy", token: TOKEN });
  const policyInputs = (over: Partial<ActionsPolicyInputs> = {}): ActionsPolicyInputs => ({
    ...target(),
    approvalPolicy: "all_external_contributors",
    shaPinningRequired: true,
    allowedActions: ["actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5", "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d"],
    githubOwnedAllowed: false,
    verifiedAllowed: false,
    ...over,
  });

  describe("ActionsPolicy", () => {
    it("create sets selected actions, SHA pinning and approval for all outside contributors, and records what was there", async () => {
      const { id, outs } = await actionsPolicyCrud.create(policyInputs());
      assert.equal(id, REPO);
      const repo = gh.repos.get(REPO)!;
      assert.equal(repo.allowedActions, "selected");
      assert.equal(repo.shaPinningRequired, true);
      assert.equal(repo.approvalPolicy, "all_external_contributors");
      assert.deepEqual(repo.selected, { github_owned_allowed: false, verified_allowed: false, patterns_allowed: policyInputs().allowedActions });
      const o = outs as ActionsPolicyOutputs;
      assert.deepEqual(o.before, { enabled: true, allowedActions: "all", shaPinningRequired: false, approvalPolicy: "first_time_contributors" });
      assert.equal(o.observed.approvalPolicy, "all_external_contributors");
      // The permissions PUT (allowed_actions: selected) precedes the list: the server refuses the list before it.
      const puts = gh.requests.filter((r) => r.method === "PUT").map((r) => r.path.split("/actions/")[1]);
      assert.deepEqual(puts, ["permissions", "permissions/selected-actions", "permissions/fork-pr-contributor-approval"]);
    });

    it("read shows a setting changed by hand, and diff then reports a change; update puts it back", async () => {
      const { id, outs } = await actionsPolicyCrud.create(policyInputs());
      const clean = await actionsPolicyCrud.read(id, outs as ActionsPolicyOutputs);
      assert.equal((await actionsPolicyCrud.diff(id, clean.props as ActionsPolicyOutputs, policyInputs())).changes, false);

      gh.repos.get(REPO)!.approvalPolicy = "first_time_contributors";
      gh.repos.get(REPO)!.selected.patterns_allowed.push("evil/action@v1");
      const drifted = await actionsPolicyCrud.read(id, outs as ActionsPolicyOutputs);
      assert.equal((drifted.props as ActionsPolicyOutputs).observed.approvalPolicy, "first_time_contributors");
      assert.equal((await actionsPolicyCrud.diff(id, drifted.props as ActionsPolicyOutputs, policyInputs())).changes, true);

      await actionsPolicyCrud.update(id, drifted.props as ActionsPolicyOutputs, policyInputs());
      assert.equal(gh.repos.get(REPO)!.approvalPolicy, "all_external_contributors");
      assert.ok(!gh.repos.get(REPO)!.selected.patterns_allowed.includes("evil/action@v1"));
    });

    it("diff replaces on another repository, and sees a changed allow-list", async () => {
      const { id, outs } = await actionsPolicyCrud.create(policyInputs());
      const o = outs as ActionsPolicyOutputs;
      assert.deepEqual((await actionsPolicyCrud.diff(id, o, policyInputs({ repository: "other" }))).replaces, ["repository"]);
      const more = policyInputs({ allowedActions: [...policyInputs().allowedActions, "docker/login-action@5e57cd118135c172c3672efd75eb46360885c0ef"] });
      assert.equal((await actionsPolicyCrud.diff(id, o, more)).changes, true);
    });

    it("delete puts back what the repository had", async () => {
      const { id, outs } = await actionsPolicyCrud.create(policyInputs());
      await actionsPolicyCrud.delete(id, outs as ActionsPolicyOutputs);
      const repo = gh.repos.get(REPO)!;
      assert.equal(repo.allowedActions, "all");
      assert.equal(repo.shaPinningRequired, false);
      assert.equal(repo.approvalPolicy, "first_time_contributors");
    });

    it("check refuses an unknown approval policy and a missing token, naming the property and never a value", async () => {
      const { failures } = await actionsPolicyCrud.check(policyInputs(), policyInputs({ approvalPolicy: "nobody" as never, token: "" }));
      assert.deepEqual(failures!.map((f) => f.property).sort(), ["approvalPolicy", "token"]);
    });

    it("a wrong token fails with GitHub's message and the path, and the token is in no error", async () => {
      await assert.rejects(actionsPolicyCrud.create(policyInputs({ token: "PLACEHOLDER-WRONG-TOKEN-0000" })), (err: Error) => {
        assert.ok(err instanceof GithubApiError);
        assert.match(err.message, /GET \/repos\/rogerlew\/wepppy\/actions\/permissions: HTTP 401: Bad credentials/);
        assert.ok(!err.message.includes("PLACEHOLDER-WRONG-TOKEN") && !err.message.includes(TOKEN));
        return true;
      });
      assert.equal(gh.repos.get(REPO)!.approvalPolicy, "first_time_contributors", "nothing changed");
    });

    it("an unreachable API fails without the token in the error", async () => {
      const closed = { ...policyInputs(), apiUrl: "http://127.0.0.1:9" };
      await assert.rejects(actionsPolicyCrud.create(closed), (err: Error) => /GitHub API GET/.test(err.message) && !err.message.includes(TOKEN));
    });

    it("the server validates bodies as GitHub does (the provider's requests are not just echoed)", async () => {
      await assert.rejects(
        githubRequest(target(), "PUT", "/repos/rogerlew/wepppy/actions/permissions/fork-pr-contributor-approval", { approval_policy: "nobody" }),
        (err: GithubApiError) => err.status === 422,
      );
      await assert.rejects(
        githubRequest(target(), "PUT", "/repos/rogerlew/wepppy/actions/permissions/selected-actions", { patterns_allowed: ["a/b@v1"] }),
        (err: GithubApiError) => err.status === 409,
        "the allow-list is refused while allowed_actions is not selected",
      );
      await assert.rejects(githubRequest(target(), "PUT", "/repos/rogerlew/wepppy/actions/permissions", { allowed_actions: "selected" }), (err: GithubApiError) => err.status === 422);
      await assert.rejects(githubRequest(target(), "GET", "/repos/rogerlew/nope/actions/permissions"), (err: GithubApiError) => err.status === 404);
    });
  });

  describe("RunnerRegistration", () => {
    const inputs = (over: Partial<RunnerRegistrationInputs> = {}): RunnerRegistrationInputs => ({ ...target(), name: "forest-runner-1", labels: ["homelab", "ghcr-builder"], ...over });

    it("create before the host registers the runner changes nothing on GitHub; read then sees the runner", async () => {
      const { id, outs } = await runnerRegistrationCrud.create(inputs());
      assert.equal((outs as RunnerRegistrationOutputs).status, "pending");
      assert.equal(gh.requests.filter((r) => r.method !== "GET").length, 0);
      gh.register(REPO, "forest-runner-1", ["ghcr-builder", "homelab"]);
      const read = (await runnerRegistrationCrud.read(id, outs as RunnerRegistrationOutputs)).props as RunnerRegistrationOutputs;
      assert.equal(read.status, "online");
      assert.deepEqual(read.labels, ["ghcr-builder", "homelab"]);
      assert.equal((await runnerRegistrationCrud.diff(id, read, inputs())).changes, false);
    });

    it("labels changed on GitHub show as drift, and update sets the declared ones without re-registering", async () => {
      const runnerId = gh.register(REPO, "forest-runner-1", ["homelab"]);
      const { id, outs } = await runnerRegistrationCrud.create(inputs());
      assert.deepEqual(gh.repos.get(REPO)!.runners[0].labels, ["homelab", "ghcr-builder"], "an existing runner gets the declared labels");
      gh.repos.get(REPO)!.runners[0].labels = ["homelab", "deploy-by-hand"];
      const read = (await runnerRegistrationCrud.read(id, outs as RunnerRegistrationOutputs)).props as RunnerRegistrationOutputs;
      assert.equal((await runnerRegistrationCrud.diff(id, read, inputs())).changes, true);
      await runnerRegistrationCrud.update(id, read, inputs());
      assert.deepEqual(gh.repos.get(REPO)!.runners.map((r) => [r.id, r.labels]), [[runnerId, ["homelab", "ghcr-builder"]]]);
    });

    it("update of a runner GitHub no longer knows says what to do", async () => {
      const { id, outs } = await runnerRegistrationCrud.create(inputs());
      await assert.rejects(runnerRegistrationCrud.update(id, outs as RunnerRegistrationOutputs, inputs()), /not registered with rogerlew\/wepppy: .*pulumi up --replace/);
    });

    it("delete removes the runner from the repository, refuses while it runs a job, and is a no-op once it is gone", async () => {
      gh.register(REPO, "forest-runner-1", ["homelab", "ghcr-builder"]);
      gh.register(REPO, "forest-runner-2", ["homelab", "ghcr-builder"]);
      const { id, outs } = await runnerRegistrationCrud.create(inputs());
      gh.repos.get(REPO)!.runners[0].busy = true;
      await assert.rejects(runnerRegistrationCrud.delete(id, outs as RunnerRegistrationOutputs), /HTTP 422: .*still running a job/);
      gh.repos.get(REPO)!.runners[0].busy = false;
      await runnerRegistrationCrud.delete(id, outs as RunnerRegistrationOutputs);
      assert.deepEqual(gh.repos.get(REPO)!.runners.map((r) => r.name), ["forest-runner-2"]);
      await runnerRegistrationCrud.delete(id, outs as RunnerRegistrationOutputs);
    });
  });
});
