import { ReleaseRecordError } from "./releaseRecord";

/*
 * GitHub Releases, as GitHub documents the REST API ("Create a release":
 * POST /repos/{owner}/{repo}/releases, 201 with the release; 422 "already_exists" when
 * the tag has one, which GET /repos/{owner}/{repo}/releases/tags/{tag} then returns). The
 * token is sent as a bearer token and never appears in an error; redirects are not
 * followed; https only, except a loopback base URL (a local stand-in).
 */

export interface CreateReleaseInput {
  tagName: string;
  /** The commit the tag is on (used by GitHub only if the tag does not exist yet). */
  targetCommitish: string;
  name: string;
  body: string;
  draft?: boolean;
  prerelease?: boolean;
  makeLatest?: boolean;
}

export interface CreatedRelease {
  id: number;
  htmlUrl: string;
  tagName: string;
  /** The tag had a release already (a re-run): it is returned as it is, not changed. */
  existed: boolean;
}

/** The one call a release record makes: tested against a local server, real against api.github.com. */
export interface ReleasesApi {
  createRelease(input: CreateReleaseInput): Promise<CreatedRelease>;
}

export interface GithubReleasesOptions {
  owner: string;
  repo: string;
  token: string;
  /** Default https://api.github.com. */
  baseUrl?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

const NAME = /^[A-Za-z0-9._-]+$/;
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

export function githubReleases(o: GithubReleasesOptions): ReleasesApi {
  if (!NAME.test(o.owner) || !NAME.test(o.repo)) throw new ReleaseRecordError(`"${o.owner}/${o.repo}" is not a GitHub repository name`);
  if (!o.token) throw new ReleaseRecordError("no GitHub token: a release needs one with contents: write on the repository (GITHUB_TOKEN in the workflow)");
  const base = new URL(o.baseUrl ?? "https://api.github.com");
  if (base.protocol !== "https:" && !(base.protocol === "http:" && LOOPBACK.test(base.hostname))) {
    throw new ReleaseRecordError(`the GitHub API URL must be https (http only to a loopback address), not ${base.protocol}//${base.host}`);
  }
  const post = o.fetch ?? fetch;
  const repo = `${o.owner}/${o.repo}`;
  const url = (path: string) => new URL(`${base.pathname.replace(/\/$/, "")}/repos/${o.owner}/${o.repo}${path}`, base).href;
  const headers = {
    accept: "application/vnd.github+json",
    authorization: `Bearer ${o.token}`,
    "x-github-api-version": "2022-11-28",
    "user-agent": "wepppy-cicd",
  };
  const redact = (text: string) => text.split(o.token).join("<token>");

  const call = async (method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    let res: Response;
    try {
      res = await post(url(path), {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const why = err instanceof Error ? `${err.message}${cause instanceof Error ? `: ${cause.message}` : ""}` : String(err);
      throw new ReleaseRecordError(`the GitHub API (${base.host}) could not be reached: ${redact(why)}`);
    }
    const text = await res.text().catch(() => "");
    let json: any = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  };

  const refused = (what: string, status: number, json: any): ReleaseRecordError => {
    const message = typeof json?.message === "string" ? `: ${redact(json.message)}` : "";
    const hint =
      status === 401
        ? " (the token is not valid)"
        : status === 403
          ? ` (the token may not write releases on ${repo}: it needs contents: write)`
          : status === 404
            ? ` (${repo} does not exist or the token cannot see it)`
            : "";
    return new ReleaseRecordError(`GitHub refused to ${what} on ${repo}: ${status}${message}${hint}`);
  };

  return {
    async createRelease(input) {
      const { status, json } = await call("POST", "/releases", {
        tag_name: input.tagName,
        target_commitish: input.targetCommitish,
        name: input.name,
        body: input.body,
        draft: input.draft ?? false,
        prerelease: input.prerelease ?? false,
        make_latest: input.makeLatest === false ? "false" : "true",
      });
      if (status === 201) return { id: Number(json?.id), htmlUrl: String(json?.html_url ?? ""), tagName: String(json?.tag_name ?? input.tagName), existed: false };
      const exists = status === 422 && Array.isArray(json?.errors) && json.errors.some((e: { code?: string }) => e?.code === "already_exists");
      if (!exists) throw refused(`create the release ${input.tagName}`, status, json);
      const found = await call("GET", `/releases/tags/${encodeURIComponent(input.tagName)}`);
      if (found.status !== 200) throw refused(`read the existing release of ${input.tagName}`, found.status, found.json);
      return { id: Number(found.json?.id), htmlUrl: String(found.json?.html_url ?? ""), tagName: input.tagName, existed: true };
    },
  };
}
