import * as pulumi from "@pulumi/pulumi";

/*
 * What @pulumi/github cannot declare, over GitHub's REST API, as typed dynamic providers
 * with read (so a refresh shows drift):
 *
 *   ActionsPolicy       the repository's Actions permissions: only the selected (pinned)
 *                       actions, SHA pinning required, and the fork PR contributor approval
 *                       policy (no @pulumi/github resource sets "require approval for all
 *                       external contributors").
 *                         GET|PUT /repos/{owner}/{repo}/actions/permissions
 *                         GET|PUT /repos/{owner}/{repo}/actions/permissions/selected-actions
 *                         GET|PUT /repos/{owner}/{repo}/actions/permissions/fork-pr-contributor-approval
 *   RunnerRegistration  one self-hosted runner as GitHub knows it: its custom labels, and its
 *                       removal from the repository when it is deleted (the host cannot
 *                       remove itself without a removal token).
 *                         GET /repos/{owner}/{repo}/actions/runners?name=
 *                         PUT /repos/{owner}/{repo}/actions/runners/{id}/labels
 *                         DELETE /repos/{owner}/{repo}/actions/runners/{id}
 *
 * The token is an input (from secret config, kept secret in state, so that a delete long
 * after still has it) and is never part of an error. The CRUD functions are exported
 * and tested directly against a local server that implements these endpoints.
 *
 * Dynamic providers are serialized into the state with the closures they reach: these
 * functions use only globals (globalThis.fetch) and each other.
 */

export const GITHUB_API = "https://api.github.com";

export interface ApiTarget {
  /** https://api.github.com, or a test server. */
  apiUrl: string;
  owner: string;
  repository: string;
  token: string;
}

/** A failed API call: method, path, status and GitHub's message, never a header or the token. */
export class GithubApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "GithubApiError";
  }
}

function scrub(text: string, token: string): string {
  return token ? text.split(token).join("[token]") : text;
}

/** One REST call; the answer's JSON (or null for 204). */
export async function githubRequest(target: ApiTarget, method: string, path: string, body?: unknown): Promise<any> {
  const where = `GitHub API ${method} ${path}`;
  if (!target.token) throw new GithubApiError(`${where}: no token (set it with pulumi config set --secret)`, 0);
  const fetchFn = (globalThis as any).fetch as (url: string, init: Record<string, unknown>) => Promise<any>;
  let res: any;
  try {
    res = await fetchFn(`${target.apiUrl.replace(/\/$/, "")}${path}`, {
      method,
      headers: {
        Accept: "application/vnd.github+json",
        Authorization: `Bearer ${target.token}`,
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "wepppy-cicd",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "error",
      signal: (globalThis as any).AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new GithubApiError(`${where}: ${scrub(String((err as Error)?.message ?? err), target.token)}`, 0);
  }
  const text: string = await res.text();
  if (res.status >= 200 && res.status < 300) return text === "" ? null : JSON.parse(text);
  let message = text.slice(0, 300);
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.message === "string") message = parsed.message;
  } catch {
    // not JSON: the start of the text says enough
  }
  throw new GithubApiError(`${where}: HTTP ${res.status}: ${scrub(message, target.token)}`, res.status);
}

function repoPath(t: ApiTarget): string {
  return `/repos/${encodeURIComponent(t.owner)}/${encodeURIComponent(t.repository)}`;
}

// ---------------------------------------------------------------------------------------
// ActionsPolicy

export const APPROVAL_POLICIES = ["all_external_contributors", "first_time_contributors", "first_time_contributors_new_to_github"] as const;
export type ApprovalPolicy = (typeof APPROVAL_POLICIES)[number];

/** What the stack declares. */
export interface ActionsPolicyInputs extends ApiTarget {
  approvalPolicy: ApprovalPolicy;
  shaPinningRequired: boolean;
  /** patterns_allowed: exactly the actions (with their SHAs) the workflows may use. */
  allowedActions: string[];
  githubOwnedAllowed: boolean;
  verifiedAllowed: boolean;
}

/** The repository's settings as read back from GitHub. */
export interface ObservedPolicy {
  enabled: boolean;
  allowedActions: string;
  shaPinningRequired: boolean;
  approvalPolicy: string;
  /** Only when allowed_actions is "selected". */
  selected?: { githubOwnedAllowed: boolean; verifiedAllowed: boolean; patternsAllowed: string[] };
}

export interface ActionsPolicyOutputs extends ActionsPolicyInputs {
  /** What the repository had before this resource set it: delete puts it back. */
  before: ObservedPolicy;
  /** What GitHub reported at the last create, update or refresh. */
  observed: ObservedPolicy;
}

export async function readActionsPolicy(t: ApiTarget): Promise<ObservedPolicy> {
  const perms = await githubRequest(t, "GET", `${repoPath(t)}/actions/permissions`);
  const fork = await githubRequest(t, "GET", `${repoPath(t)}/actions/permissions/fork-pr-contributor-approval`);
  const observed: ObservedPolicy = {
    enabled: perms.enabled === true,
    allowedActions: String(perms.allowed_actions ?? ""),
    shaPinningRequired: perms.sha_pinning_required === true,
    approvalPolicy: String(fork.approval_policy ?? ""),
  };
  if (observed.enabled && observed.allowedActions === "selected") {
    const sel = await githubRequest(t, "GET", `${repoPath(t)}/actions/permissions/selected-actions`);
    observed.selected = {
      githubOwnedAllowed: sel.github_owned_allowed === true,
      verifiedAllowed: sel.verified_allowed === true,
      patternsAllowed: [...(sel.patterns_allowed ?? [])].map(String).sort(),
    };
  }
  return observed;
}

async function writeActionsPolicy(t: ApiTarget, p: ObservedPolicy): Promise<void> {
  // allowed_actions must be "selected" before the selected-actions endpoint takes a list.
  await githubRequest(t, "PUT", `${repoPath(t)}/actions/permissions`, {
    enabled: p.enabled,
    ...(p.enabled && p.allowedActions ? { allowed_actions: p.allowedActions } : {}),
    sha_pinning_required: p.shaPinningRequired,
  });
  if (p.enabled && p.allowedActions === "selected" && p.selected) {
    await githubRequest(t, "PUT", `${repoPath(t)}/actions/permissions/selected-actions`, {
      github_owned_allowed: p.selected.githubOwnedAllowed,
      verified_allowed: p.selected.verifiedAllowed,
      patterns_allowed: p.selected.patternsAllowed,
    });
  }
  if (p.approvalPolicy) {
    await githubRequest(t, "PUT", `${repoPath(t)}/actions/permissions/fork-pr-contributor-approval`, { approval_policy: p.approvalPolicy });
  }
}

/** The settings the inputs ask for, in the form GitHub reports them. */
export function wantedPolicy(i: ActionsPolicyInputs): ObservedPolicy {
  return {
    enabled: true,
    allowedActions: "selected",
    shaPinningRequired: i.shaPinningRequired,
    approvalPolicy: i.approvalPolicy,
    selected: { githubOwnedAllowed: i.githubOwnedAllowed, verifiedAllowed: i.verifiedAllowed, patternsAllowed: [...i.allowedActions].sort() },
  };
}

function samePolicy(a: ObservedPolicy, b: ObservedPolicy): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const TARGET_KEYS = ["apiUrl", "owner", "repository"] as const;

function targetOf(p: ApiTarget): ApiTarget {
  return { apiUrl: p.apiUrl, owner: p.owner, repository: p.repository, token: p.token };
}

export function checkActionsPolicy(news: ActionsPolicyInputs): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (!(APPROVAL_POLICIES as readonly string[]).includes(news.approvalPolicy)) {
    failures.push({ property: "approvalPolicy", reason: `expected one of ${APPROVAL_POLICIES.join(", ")}` });
  }
  if (!Array.isArray(news.allowedActions) || news.allowedActions.length === 0) {
    failures.push({ property: "allowedActions", reason: "expected the non-empty list of actions the workflows use" });
  }
  if (!news.token) failures.push({ property: "token", reason: "no token: set wepppy-cicd:secrets.github_admin_token (administration: write)" });
  return failures;
}

export const actionsPolicyCrud = {
  async check(_olds: ActionsPolicyInputs, news: ActionsPolicyInputs): Promise<pulumi.dynamic.CheckResult> {
    return { inputs: news, failures: checkActionsPolicy(news) };
  },

  async create(inputs: ActionsPolicyInputs): Promise<pulumi.dynamic.CreateResult> {
    const t = targetOf(inputs);
    const before = await readActionsPolicy(t);
    await writeActionsPolicy(t, wantedPolicy(inputs));
    const observed = await readActionsPolicy(t);
    const outs: ActionsPolicyOutputs = { ...inputs, before, observed };
    return { id: `${inputs.owner}/${inputs.repository}`, outs };
  },

  /** Reports what GitHub has: a setting changed by hand shows as a difference in the next preview. */
  async read(id: string, props: ActionsPolicyOutputs): Promise<pulumi.dynamic.ReadResult> {
    const observed = await readActionsPolicy(targetOf(props));
    return { id, props: { ...props, observed } };
  },

  async diff(_id: string, olds: ActionsPolicyOutputs, news: ActionsPolicyInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = TARGET_KEYS.filter((k) => olds[k] !== news[k]);
    const drifted = !olds.observed || !samePolicy(olds.observed, wantedPolicy(news));
    const changedInputs = JSON.stringify(wantedPolicy(olds)) !== JSON.stringify(wantedPolicy(news)) || olds.token !== news.token;
    return { changes: replaces.length > 0 || drifted || changedInputs, replaces, deleteBeforeReplace: true };
  },

  async update(_id: string, olds: ActionsPolicyOutputs, news: ActionsPolicyInputs): Promise<pulumi.dynamic.UpdateResult> {
    const t = targetOf(news);
    await writeActionsPolicy(t, wantedPolicy(news));
    const observed = await readActionsPolicy(t);
    const outs: ActionsPolicyOutputs = { ...news, before: olds.before, observed };
    return { outs };
  },

  /** Puts back what the repository had before the stack set its policy. */
  async delete(_id: string, props: ActionsPolicyOutputs): Promise<void> {
    await writeActionsPolicy(targetOf(props), props.before);
  },
};

const actionsPolicyProvider: pulumi.dynamic.ResourceProvider = actionsPolicyCrud as unknown as pulumi.dynamic.ResourceProvider;

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** The repository's Actions policy. */
export class ActionsPolicy extends pulumi.dynamic.Resource {
  declare readonly approvalPolicy: pulumi.Output<string>;
  declare readonly observed: pulumi.Output<ObservedPolicy>;

  constructor(name: string, args: Inputs<Omit<ActionsPolicyInputs, "token">> & { token: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    super(
      actionsPolicyProvider,
      name,
      { ...args, token: pulumi.secret(args.token), before: undefined, observed: undefined },
      { ...opts, additionalSecretOutputs: ["token"] },
      "github",
      "ActionsPolicy",
    );
  }
}

// ---------------------------------------------------------------------------------------
// RunnerRegistration

export interface RunnerRegistrationInputs extends ApiTarget {
  name: string;
  /** The runner's custom labels (GitHub adds self-hosted, the OS and the architecture). */
  labels: string[];
}

export interface RunnerRegistrationOutputs extends RunnerRegistrationInputs {
  /** GitHub's id of the runner, once it is registered. */
  runnerId?: number;
  /** online, offline, or absent (not registered). */
  status: string;
  busy: boolean;
}

interface ApiRunner {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  labels: { name: string; type: string }[];
}

export async function findRunner(t: ApiTarget, name: string): Promise<ApiRunner | undefined> {
  const answer = await githubRequest(t, "GET", `${repoPath(t)}/actions/runners?name=${encodeURIComponent(name)}&per_page=100`);
  return ((answer?.runners ?? []) as ApiRunner[]).find((r) => r.name === name);
}

function customLabels(r: ApiRunner): string[] {
  return r.labels.filter((l) => l.type === "custom").map((l) => l.name).sort();
}

function observedRunner(inputs: RunnerRegistrationInputs, r: ApiRunner | undefined): RunnerRegistrationOutputs {
  if (!r) return { ...inputs, runnerId: undefined, status: "absent", busy: false };
  return { ...inputs, labels: customLabels(r), runnerId: r.id, status: r.status, busy: r.busy };
}

export const runnerRegistrationCrud = {
  async check(_olds: RunnerRegistrationInputs, news: RunnerRegistrationInputs): Promise<pulumi.dynamic.CheckResult> {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!news.name) failures.push({ property: "name", reason: "expected a runner name" });
    if (!news.token) failures.push({ property: "token", reason: "no token: set wepppy-cicd:secrets.github_admin_token (administration: write)" });
    return { inputs: { ...news, labels: [...news.labels].sort() }, failures };
  },

  /**
   * The host registers the runner (config.sh, after this); a runner of that name already
   * registered (a reinstalled host) gets the declared labels now.
   */
  async create(inputs: RunnerRegistrationInputs): Promise<pulumi.dynamic.CreateResult> {
    const t = targetOf(inputs);
    const existing = await findRunner(t, inputs.name);
    if (existing && customLabels(existing).join(",") !== [...inputs.labels].sort().join(",")) {
      await githubRequest(t, "PUT", `${repoPath(t)}/actions/runners/${existing.id}/labels`, { labels: inputs.labels });
    }
    const outs: RunnerRegistrationOutputs = existing
      ? { ...inputs, labels: [...inputs.labels].sort(), runnerId: existing.id, status: existing.status, busy: existing.busy }
      : { ...inputs, labels: [...inputs.labels].sort(), runnerId: undefined, status: "pending", busy: false };
    return { id: inputs.name, outs };
  },

  async read(id: string, props: RunnerRegistrationOutputs): Promise<pulumi.dynamic.ReadResult> {
    return { id, props: observedRunner(props, await findRunner(targetOf(props), props.name)) };
  },

  async diff(_id: string, olds: RunnerRegistrationOutputs, news: RunnerRegistrationInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = [...TARGET_KEYS, "name" as const].filter((k) => olds[k] !== news[k]);
    const labelsDiffer = [...olds.labels].sort().join(",") !== [...news.labels].sort().join(",");
    return { changes: replaces.length > 0 || labelsDiffer || olds.status === "absent" || olds.token !== news.token, replaces };
  },

  async update(_id: string, olds: RunnerRegistrationOutputs, news: RunnerRegistrationInputs): Promise<pulumi.dynamic.UpdateResult> {
    const t = targetOf(news);
    const r = await findRunner(t, news.name);
    if (!r) {
      throw new GithubApiError(
        `runner ${news.name} is not registered with ${news.owner}/${news.repository}: its host registers it when its RunnerHost command runs again (pulumi up --replace that command), or the host lost its registration`,
        404,
      );
    }
    if (customLabels(r).join(",") !== [...news.labels].sort().join(",")) {
      await githubRequest(t, "PUT", `${repoPath(t)}/actions/runners/${r.id}/labels`, { labels: news.labels });
    }
    void olds;
    return { outs: { ...news, labels: [...news.labels].sort(), runnerId: r.id, status: r.status, busy: r.busy } };
  },

  /** Removes the runner from the repository (its host has stopped it and removed its local config first). */
  async delete(_id: string, props: RunnerRegistrationOutputs): Promise<void> {
    const t = targetOf(props);
    const r = await findRunner(t, props.name);
    if (r) await githubRequest(t, "DELETE", `${repoPath(t)}/actions/runners/${r.id}`);
  },
};

const runnerRegistrationProvider: pulumi.dynamic.ResourceProvider = runnerRegistrationCrud as unknown as pulumi.dynamic.ResourceProvider;

/** One runner as GitHub knows it. */
export class RunnerRegistration extends pulumi.dynamic.Resource {
  declare readonly status: pulumi.Output<string>;

  constructor(name: string, args: Inputs<Omit<RunnerRegistrationInputs, "token">> & { token: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    super(
      runnerRegistrationProvider,
      name,
      { ...args, token: pulumi.secret(args.token), runnerId: undefined, status: undefined, busy: undefined },
      { ...opts, additionalSecretOutputs: ["token"] },
      "github",
      "RunnerRegistration",
    );
  }
}

// ---------------------------------------------------------------------------------------
// RegistrationTokenLatch

/**
 * A registration token as it was when this resource was created: @pulumi/github hands out
 * a fresh token (valid one hour) on every run, and a command whose stdin changed runs again.
 * The latch keeps the first one, so the runner's command sees the same stdin on every
 * `pulumi up` and runs only when something else changed. A new `generation` replaces the
 * latch and lets the fresh token through (to register a runner whose host lost its
 * registration, or on a new host). The latch makes no API call.
 */
export interface TokenLatchInputs {
  token: string;
  generation: number;
}

export const tokenLatchCrud = {
  async create(inputs: TokenLatchInputs): Promise<pulumi.dynamic.CreateResult> {
    return { id: `generation-${inputs.generation}`, outs: { token: inputs.token, generation: inputs.generation } };
  },
  async read(id: string, props: TokenLatchInputs): Promise<pulumi.dynamic.ReadResult> {
    return { id, props };
  },
  async diff(_id: string, olds: TokenLatchInputs, news: TokenLatchInputs): Promise<pulumi.dynamic.DiffResult> {
    const replace = olds.generation !== news.generation;
    return { changes: replace, replaces: replace ? ["generation"] : [] };
  },
  async delete(): Promise<void> {
    // A registration token expires by itself.
  },
};

const tokenLatchProvider: pulumi.dynamic.ResourceProvider = tokenLatchCrud as unknown as pulumi.dynamic.ResourceProvider;

export class RegistrationTokenLatch extends pulumi.dynamic.Resource {
  declare readonly token: pulumi.Output<string>;

  constructor(name: string, args: { token: pulumi.Input<string>; generation: pulumi.Input<number> }, opts?: pulumi.CustomResourceOptions) {
    super(tokenLatchProvider, name, { token: pulumi.secret(args.token), generation: args.generation }, { ...opts, additionalSecretOutputs: ["token"] }, "github", "RegistrationTokenLatch");
  }
}
