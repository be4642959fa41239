import * as http from "node:http";
import { AddressInfo } from "node:net";

/*
 * A local HTTP server that implements the GitHub REST endpoints the dynamic providers
 * call, the way GitHub's documentation describes them: it keeps state per repository,
 * requires the token, validates request bodies (422), answers 404 for an unknown
 * repository or runner, and refuses the selected-actions list unless allowed_actions is
 * "selected" (GitHub documents that precondition; the 409 for it is this server's choice).
 * It does not echo what a test configured: its answers are its state.
 */

export interface RepoState {
  enabled: boolean;
  allowedActions: "all" | "local_only" | "selected";
  shaPinningRequired: boolean;
  approvalPolicy: string;
  selected: { github_owned_allowed: boolean; verified_allowed: boolean; patterns_allowed: string[] };
  runners: { id: number; name: string; status: string; busy: boolean; labels: string[] }[];
}

export interface FakeGithub {
  url: string;
  token: string;
  repos: Map<string, RepoState>;
  /** Every request: method, path, the JSON body. */
  requests: { method: string; path: string; body?: unknown }[];
  /** What a host's config.sh does: the runner appears, with the default labels and its custom ones. */
  register(repo: string, name: string, labels: string[]): number;
  close(): Promise<void>;
}

const APPROVAL = ["first_time_contributors_new_to_github", "first_time_contributors", "all_external_contributors"];
const ALLOWED = ["all", "local_only", "selected"];
const READ_ONLY_LABELS = ["self-hosted", "Linux", "X64"];

/** GitHub's defaults for a public repository. */
export function defaultRepoState(): RepoState {
  return {
    enabled: true,
    allowedActions: "all",
    shaPinningRequired: false,
    approvalPolicy: "first_time_contributors",
    selected: { github_owned_allowed: true, verified_allowed: false, patterns_allowed: [] },
    runners: [],
  };
}

function send(res: http.ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
  res.end(text);
}

const invalid = (res: http.ServerResponse, message: string) => send(res, 422, { message, documentation_url: "https://docs.github.com/rest" });

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function onlyKeys(body: Record<string, unknown>, keys: string[]): string | undefined {
  return Object.keys(body).find((k) => !keys.includes(k));
}

export async function startFakeGithub(token: string, repos: string[]): Promise<FakeGithub> {
  const state = new Map<string, RepoState>(repos.map((r) => [r, defaultRepoState()]));
  const requests: FakeGithub["requests"] = [];
  let nextId = 100;

  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      let body: any;
      if (raw !== "") {
        try {
          body = JSON.parse(raw);
        } catch {
          return send(res, 400, { message: "Problems parsing JSON" });
        }
      }
      requests.push({ method: req.method ?? "", path: url.pathname + url.search, body });
      if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { message: "Bad credentials" });

      const m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/(.+)$/.exec(url.pathname);
      const repo = m ? state.get(`${decodeURIComponent(m[1])}/${decodeURIComponent(m[2])}`) : undefined;
      if (!m || !repo) return send(res, 404, { message: "Not Found" });
      const rest = m[3];
      const method = req.method;
      const isObject = typeof body === "object" && body !== null && !Array.isArray(body);

      if (rest === "permissions") {
        if (method === "GET") {
          return send(res, 200, {
            enabled: repo.enabled,
            ...(repo.enabled ? { allowed_actions: repo.allowedActions } : {}),
            ...(repo.enabled && repo.allowedActions === "selected" ? { selected_actions_url: `${url.origin}${url.pathname}/selected-actions` } : {}),
            sha_pinning_required: repo.shaPinningRequired,
          });
        }
        if (method === "PUT") {
          if (!isObject) return invalid(res, "Invalid request: a JSON object is required");
          const extra = onlyKeys(body, ["enabled", "allowed_actions", "sha_pinning_required"]);
          if (extra) return invalid(res, `Invalid request: ${extra} is not a permitted key`);
          if (typeof body.enabled !== "boolean") return invalid(res, 'Invalid request: "enabled" wasn\'t supplied.');
          if (body.allowed_actions !== undefined && !ALLOWED.includes(body.allowed_actions)) return invalid(res, "Invalid request: allowed_actions is not one of all, local_only, selected");
          if (body.sha_pinning_required !== undefined && typeof body.sha_pinning_required !== "boolean") return invalid(res, "Invalid request: sha_pinning_required is not a boolean");
          repo.enabled = body.enabled;
          if (body.allowed_actions !== undefined) repo.allowedActions = body.allowed_actions;
          if (body.sha_pinning_required !== undefined) repo.shaPinningRequired = body.sha_pinning_required;
          return send(res, 204);
        }
      }
      if (rest === "permissions/selected-actions") {
        if (!repo.enabled || repo.allowedActions !== "selected") return send(res, 409, { message: 'allowed_actions is not "selected" for this repository' });
        if (method === "GET") return send(res, 200, repo.selected);
        if (method === "PUT") {
          if (!isObject) return invalid(res, "Invalid request: a JSON object is required");
          const extra = onlyKeys(body, ["github_owned_allowed", "verified_allowed", "patterns_allowed"]);
          if (extra) return invalid(res, `Invalid request: ${extra} is not a permitted key`);
          for (const k of ["github_owned_allowed", "verified_allowed"]) {
            if (body[k] !== undefined && typeof body[k] !== "boolean") return invalid(res, `Invalid request: ${k} is not a boolean`);
          }
          if (body.patterns_allowed !== undefined && !isStringArray(body.patterns_allowed)) return invalid(res, "Invalid request: patterns_allowed is not a list of strings");
          repo.selected = { ...repo.selected, ...body };
          return send(res, 204);
        }
      }
      if (rest === "permissions/fork-pr-contributor-approval") {
        if (method === "GET") return send(res, 200, { approval_policy: repo.approvalPolicy });
        if (method === "PUT") {
          if (!isObject || typeof body.approval_policy !== "string") return invalid(res, 'Invalid request: "approval_policy" wasn\'t supplied.');
          if (!APPROVAL.includes(body.approval_policy)) return invalid(res, `Invalid request: ${JSON.stringify(body.approval_policy)} is not a valid approval_policy`);
          if (onlyKeys(body, ["approval_policy"])) return invalid(res, "Invalid request: only approval_policy is permitted");
          repo.approvalPolicy = body.approval_policy;
          return send(res, 204);
        }
      }
      if (rest === "runners" && method === "GET") {
        const name = url.searchParams.get("name");
        const runners = repo.runners.filter((r) => name === null || r.name === name);
        return send(res, 200, {
          total_count: runners.length,
          runners: runners.map((r) => ({
            id: r.id,
            name: r.name,
            os: "linux",
            status: r.status,
            busy: r.busy,
            labels: [...READ_ONLY_LABELS.map((l) => ({ id: 1, name: l, type: "read-only" })), ...r.labels.map((l) => ({ id: 2, name: l, type: "custom" }))],
          })),
        });
      }
      const one = /^runners\/([0-9]+)(\/labels)?$/.exec(rest);
      if (one) {
        const runner = repo.runners.find((r) => r.id === Number(one[1]));
        if (!runner) return send(res, 404, { message: "Not Found" });
        if (one[2] && method === "PUT") {
          if (!isObject || !isStringArray(body.labels) || body.labels.length > 100) return invalid(res, 'Invalid request: "labels" wasn\'t supplied as a list of strings.');
          runner.labels = [...body.labels];
          return send(res, 200, { total_count: runner.labels.length + 3, labels: [...READ_ONLY_LABELS, ...runner.labels].map((name) => ({ name })) });
        }
        if (!one[2] && method === "DELETE") {
          if (runner.busy) return invalid(res, `Bad request - Runner "${runner.name}" is still running a job"`);
          repo.runners = repo.runners.filter((r) => r !== runner);
          return send(res, 204);
        }
      }
      return send(res, 404, { message: "Not Found" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    repos: state,
    requests,
    register(repoName: string, name: string, labels: string[]) {
      const repo = state.get(repoName);
      if (!repo) throw new Error(`no repository ${repoName}`);
      const id = nextId++;
      repo.runners.push({ id, name, status: "online", busy: false, labels: [...labels] });
      return id;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
