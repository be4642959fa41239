import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { GitRepo } from "../../ops/gitRepo";
import { githubReleases } from "../../ops/githubReleases";
import { recordRelease } from "../../ops/recordRelease";
import { runCli } from "../support/runCli";
import { EvidenceRecord, REVISION_LABEL, ReleaseRecordError, commitOfImage, previousReleaseTag, releaseNotes } from "../../ops/releaseRecord";

/*
 * The release record against real parts: a local git repository with history (wepppy's
 * stand-in), a bare repository as its origin (GitHub's git side), and a local HTTP server
 * implementing GitHub's "create a release" as GitHub documents it (its API side).
 */

const TOKEN = "ghs_releaseTokenStandIn0123456789";
const IMAGE = `ghcr.io/rogerlew/wepppy@sha256:${"c".repeat(64)}`;

function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } }).trim();
}

interface Fixture {
  work: string;
  origin: string;
  commits: Record<string, string>;
}

let template: Fixture | undefined;

/**
 * wepppy's stand-in, a repository of its own for each test: made once per process with git
 * (some twenty git runs) and copied, the copy's origin set to the copy's own bare repository.
 */
function repository(): Fixture {
  template ??= makeRepository();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "release-record-"));
  fs.cpSync(path.dirname(template.work), root, { recursive: true });
  const work = path.join(root, "wepppy");
  const origin = path.join(root, "origin.git");
  git(work, "remote", "set-url", "origin", origin);
  return { work, origin, commits: { ...template.commits } };
}

/** Five commits, the second released before; the fourth is the promoted image's; HEAD is ahead of it. */
function makeRepository(): Fixture {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "release-record-"));
  const work = path.join(root, "wepppy");
  const origin = path.join(root, "origin.git");
  execFileSync("git", ["init", "-q", "--bare", origin]);
  execFileSync("git", ["init", "-q", "-b", "master", work]);
  git(work, "config", "user.name", "Roger");
  git(work, "config", "user.email", "roger@example.test");
  const commits: Record<string, string> = {};
  const subjects = ["Initial import", "Add the dev_unit_1 run config", "Fix the climate download retry", "Speed up the query engine", "WIP: not released yet"];
  subjects.forEach((subject, i) => {
    fs.writeFileSync(path.join(work, "VERSION"), `${i}\n`);
    git(work, "add", "VERSION");
    git(work, "commit", "-q", "-m", subject);
    commits[`c${i + 1}`] = git(work, "rev-parse", "HEAD");
  });
  git(work, "tag", "-a", "-m", "earlier release", "prod-20261101-090000", commits.c2);
  git(work, "tag", "-a", "-m", "earlier release", "2026.11.0", commits.c2);
  git(work, "remote", "add", "origin", origin);
  git(work, "push", "-q", "origin", "master", "--tags");
  return { work, origin, commits };
}

interface StoredRelease {
  id: number;
  tag_name: string;
  target_commitish: string;
  name: string;
  body: string;
  draft: boolean;
  prerelease: boolean;
}

/** GitHub's Releases API for one repository, as documented: POST /repos/{owner}/{repo}/releases, GET .../releases/tags/{tag}. */
async function githubStandIn(owner: string, repo: string) {
  const releases: StoredRelease[] = [];
  const requests: { method?: string; url?: string; auth?: string; accept?: string; version?: string }[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, accept: req.headers.accept, version: req.headers["x-github-api-version"] as string });
      const send = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
      const base = `/repos/${owner}/${repo}`;
      if (req.method === "POST" && req.url === `${base}/releases`) {
        const body = JSON.parse(text);
        if (typeof body.tag_name !== "string") return send(422, { message: "Validation Failed", errors: [{ resource: "Release", code: "missing_field", field: "tag_name" }] });
        if (releases.some((r) => r.tag_name === body.tag_name)) {
          return send(422, { message: "Validation Failed", errors: [{ resource: "Release", code: "already_exists", field: "tag_name" }] });
        }
        const stored: StoredRelease = { id: releases.length + 1, draft: false, prerelease: false, ...body };
        releases.push(stored);
        return send(201, { ...stored, html_url: `https://github.com/${owner}/${repo}/releases/tag/${body.tag_name}`, created_at: new Date().toISOString() });
      }
      const byTag = req.method === "GET" && req.url?.startsWith(`${base}/releases/tags/`) ? decodeURIComponent(req.url.slice(`${base}/releases/tags/`.length)) : undefined;
      if (byTag !== undefined) {
        const found = releases.find((r) => r.tag_name === byTag);
        return found ? send(200, { ...found, html_url: `https://github.com/${owner}/${repo}/releases/tag/${byTag}` }) : send(404, { message: "Not Found" });
      }
      return send(404, { message: "Not Found" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    releases,
    requests,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const evidence: EvidenceRecord[] = [
  {
    suite: "create-run",
    digest: `sha256:${"c".repeat(64)}`,
    started: "2026-11-25T08:00:00Z",
    finished: "2026-11-25T08:03:00Z",
    checks: [
      { name: "create dev_unit_1", pass: true },
      { name: "delete dev_unit_1", pass: true },
    ],
    source: "forest1 weppcloud-green",
  },
  { suite: "soak", checks: [{ name: "5xx share 0.2% under 5%", pass: true }, { name: "redis *:error:* counters flat", pass: true }] },
];

describe("release record on the image's commit", function () {
  this.timeout(30000);

  describe("which commit, which release before, what the notes say", () => {
    it("takes the commit from the image's sha-<commit> tag or its revision label, which must agree", () => {
      const full = "a".repeat(40);
      assert.deepEqual(commitOfImage({ ref: IMAGE, tags: [`ghcr.io/rogerlew/wepppy:sha-${full}`] }), { commit: full, from: `tag sha-${full}` });
      assert.deepEqual(commitOfImage({ ref: IMAGE, tags: ["sha-aaaaaaa"], labels: { [REVISION_LABEL]: full } }), { commit: full, from: `label ${REVISION_LABEL}` });
      assert.throws(() => commitOfImage({ ref: IMAGE, tags: ["sha-bbbbbbb"], labels: { [REVISION_LABEL]: full } }), /names two commits: bbbbbbb \(tag sha-bbbbbbb\) and a{40}/);
      assert.throws(() => commitOfImage({ ref: IMAGE, tags: ["latest", "2026.11.1"] }), /cannot tell which commit .* no sha-<commit> tag and no org\.opencontainers\.image\.revision label/);
      assert.throws(() => commitOfImage({ ref: IMAGE, labels: { [REVISION_LABEL]: "main" } }), /label is "main", not a commit SHA/);
    });

    it("the previous release is the newest prod- tag before this one", () => {
      const tags = ["prod-20261101-090000", "2026.11.0", "prod-20261020-120000", "prod-20261125-100000", "v1"];
      assert.equal(previousReleaseTag(tags, "prod-20261125-100000"), "prod-20261101-090000");
      assert.equal(previousReleaseTag(["prod-20261125-100000"], "prod-20261125-100000"), undefined);
    });

    it("notes give the evidence per suite (failures named), a hotfix's reason and skipped checks, and the changes", () => {
      const notes = releaseNotes({
        tag: "prod-20261125-100000",
        version: "2026.11.1",
        commit: "d".repeat(40),
        commitFrom: "tag sha-ddd",
        image: IMAGE,
        previousTag: "prod-20261101-090000",
        changes: [{ commit: "e".repeat(40), subject: "Fix <script> in a subject\nsecond line" }],
        evidence: [{ suite: "pages", checks: [{ name: "/weppcloud/", pass: true }, { name: "/browse/", pass: false, detail: "answered 502" }] }],
        hotfix: { reason: "CVE fix cannot wait", skippedChecks: ["testprod validation", "smoke tests"] },
      });
      assert.match(notes, /^- \*\*FAIL\*\* pages: 1\/2 checks passed; failed: \/browse\/: answered 502$/m);
      assert.match(notes, /^### Hotfix\n\nBypassed testprod: CVE fix cannot wait\nSkipped: testprod validation, smoke tests$/m);
      assert.match(notes, /^- eeeeeeeeeeee Fix &lt;script&gt; in a subject second line$/m);
      const bare = releaseNotes({ tag: "prod-20261125-100000", version: "2026.11.1", commit: "d".repeat(40), commitFrom: "x", image: IMAGE, changes: [], evidence: [] });
      assert.match(bare, /No validation evidence was recorded for this image/);
      assert.match(bare, /### Changes \(first recorded release\)/);
    });
  });

  describe("against a git repository and GitHub's Releases API", () => {
    let fx: Fixture;
    let gh: Awaited<ReturnType<typeof githubStandIn>>;
    beforeEach(async () => {
      fx = repository();
      gh = await githubStandIn("rogerlew", "wepppy");
    });
    afterEach(async () => {
      await gh.close();
    });

    const record = (overrides: Partial<Parameters<typeof recordRelease>[0]> = {}) =>
      recordRelease({
        git: new GitRepo(fx.work),
        remote: "origin",
        releases: githubReleases({ owner: "rogerlew", repo: "wepppy", token: TOKEN, baseUrl: gh.baseUrl }),
        image: { ref: IMAGE, tags: [`ghcr.io/rogerlew/wepppy:sha-${fx.commits.c4.slice(0, 7)}`] },
        tag: "prod-20261125-100000",
        version: "2026.11.1",
        evidence,
        actor: "roger",
        ...overrides,
      });

    it("tags the image's commit, not HEAD, pushes both tags, and publishes a release with the evidence and the subjects since the last release", async () => {
      assert.equal(git(fx.work, "rev-parse", "HEAD"), fx.commits.c5, "HEAD is ahead of the image's commit");
      const r = await record();
      assert.equal(r.commit, fx.commits.c4, "the short sha- tag resolved to the full commit");
      assert.deepEqual(r.tags, [{ name: "prod-20261125-100000", result: "created" }, { name: "2026.11.1", result: "created" }]);
      for (const repo of [fx.work, fx.origin]) {
        assert.equal(git(repo, "rev-parse", "prod-20261125-100000^{commit}"), fx.commits.c4, repo);
        assert.equal(git(repo, "rev-parse", "2026.11.1^{commit}"), fx.commits.c4, repo);
        assert.equal(git(repo, "cat-file", "-t", "prod-20261125-100000"), "tag", "annotated");
      }
      assert.equal(r.previousTag, "prod-20261101-090000");
      assert.deepEqual(r.changes.map((c) => c.subject), ["Speed up the query engine", "Fix the climate download retry"]);

      assert.equal(gh.releases.length, 1);
      const published = gh.releases[0];
      assert.deepEqual([published.tag_name, published.target_commitish, published.name, published.draft], ["prod-20261125-100000", fx.commits.c4, "2026.11.1 (prod-20261125-100000)", false]);
      assert.equal(published.body, r.notes);
      assert.match(published.body, /^- \*\*PASS\*\* create-run on sha256:c{12}: 2\/2 checks passed \(2026-11-25T08:00:00Z to 2026-11-25T08:03:00Z\) \[answered from forest1 weppcloud-green\]$/m);
      assert.match(published.body, /^- \*\*PASS\*\* soak: 2\/2 checks passed$/m);
      assert.match(published.body, /^### Changes since prod-20261101-090000\n\n- [0-9a-f]{12} Speed up the query engine\n- [0-9a-f]{12} Fix the climate download retry\n/m);
      assert.doesNotMatch(published.body, /WIP: not released yet|Add the dev_unit_1 run config/);
      assert.match(published.body, new RegExp(`built from ${fx.commits.c4} \\(tag sha-${fx.commits.c4.slice(0, 7)}\\)`));
      assert.deepEqual(gh.requests.map((q) => [q.method, q.url, q.auth, q.accept, q.version]), [
        ["POST", "/repos/rogerlew/wepppy/releases", `Bearer ${TOKEN}`, "application/vnd.github+json", "2022-11-28"],
      ]);
      assert.equal(r.release?.htmlUrl, "https://github.com/rogerlew/wepppy/releases/tag/prod-20261125-100000");
    });

    it("run again, changes nothing: the tags are on that commit already and the release exists", async () => {
      const first = await record();
      const again = await record();
      assert.deepEqual(again.tags.map((t) => t.result), ["exists", "exists"]);
      assert.equal(again.release?.existed, true);
      assert.equal(again.release?.id, first.release?.id);
      assert.equal(gh.releases.length, 1);
      assert.deepEqual(gh.requests.map((q) => q.method), ["POST", "POST", "GET"]);
    });

    it("refuses a tag already on another commit before creating or pushing anything", async () => {
      git(fx.work, "tag", "-a", "-m", "someone else's", "2026.11.1", fx.commits.c5);
      await assert.rejects(record(), (err: Error) => {
        assert.ok(err instanceof ReleaseRecordError);
        assert.match(err.message, new RegExp(`tag 2026\\.11\\.1 already points to ${fx.commits.c5}, not ${fx.commits.c4} .* a release tag is never moved; nothing was changed`));
        return true;
      });
      assert.throws(() => git(fx.work, "rev-parse", "--verify", "--quiet", "prod-20261125-100000"), "the release tag was not created");
      assert.deepEqual(gh.requests, []);
    });

    it("refuses an image whose commit the repository does not have", async () => {
      await assert.rejects(record({ image: { ref: IMAGE, tags: ["sha-deadbee"] } }), /commit deadbee is not in the repository at .*: fetch it first \(git fetch --tags origin\)/);
      await assert.rejects(record({ image: { ref: IMAGE, tags: ["latest"] } }), /cannot tell which commit/);
    });

    it("says why GitHub refused, without the token; and sends the token to no plain-http host", async () => {
      const wrong = githubReleases({ owner: "rogerlew", repo: "wepppy", token: "ghs_wrong0000000000", baseUrl: gh.baseUrl });
      await assert.rejects(record({ releases: wrong }), (err: Error) => {
        assert.match(err.message, /GitHub refused to create the release prod-20261125-100000 on rogerlew\/wepppy: 401: Bad credentials \(the token is not valid\)/);
        assert.doesNotMatch(err.message, /ghs_wrong/);
        return true;
      });
      assert.throws(() => githubReleases({ owner: "rogerlew", repo: "wepppy", token: TOKEN, baseUrl: "http://api.example.test" }), /must be https \(http only to a loopback address\)/);
      assert.throws(() => githubReleases({ owner: "roger lew", repo: "wepppy", token: TOKEN }), /not a GitHub repository name/);
    });

    it("wepppy-cicd record-release does it from a promotion's --json result; bad input changes nothing", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promote-json-"));
      const from = path.join(dir, "promote.json");
      const promoted = {
        ok: true,
        action: "promote",
        stack: "prod",
        image: IMAGE,
        commit: fx.commits.c4,
        release: { tag: "prod-20261125-100000", version: "2026.11.1", actor: "roger" },
        evidence: { found: ["create-run passed on forest1"], missing: [], forced: false },
        notes: [],
      };
      fs.writeFileSync(from, JSON.stringify({ ...promoted, ok: false }));
      const refused = await runCli(["record-release", "--from", from, "--checkout", fx.work, "--push", "origin", "--json"]);
      assert.equal(refused.code, 2);
      assert.match(JSON.parse(refused.stdout).error, /not a successful promotion/);
      fs.writeFileSync(from, JSON.stringify(promoted));
      const saved = { token: process.env.GITHUB_TOKEN, api: process.env.GITHUB_API_URL };
      process.env.GITHUB_TOKEN = TOKEN;
      process.env.GITHUB_API_URL = gh.baseUrl;
      try {
        const noPush = await runCli(["record-release", "--from", from, "--checkout", fx.work, "--github", "rogerlew/wepppy", "--json"]);
        assert.equal(noPush.code, 2);
        assert.match(JSON.parse(noPush.stdout).error, /--github needs --push/);
        assert.throws(() => git(fx.work, "rev-parse", "--verify", "--quiet", "prod-20261125-100000"), "nothing was tagged");
        const r = await runCli(["record-release", "--from", from, "--checkout", fx.work, "--push", "origin", "--github", "rogerlew/wepppy", "--json"]);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const out = JSON.parse(r.stdout);
        assert.equal(out.commit, fx.commits.c4);
        assert.doesNotMatch(r.stdout + r.stderr, new RegExp(TOKEN));
      } finally {
        for (const [k, v] of [["GITHUB_TOKEN", saved.token], ["GITHUB_API_URL", saved.api]] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      assert.equal(git(fx.origin, "rev-parse", "2026.11.1^{commit}"), fx.commits.c4);
      assert.equal(gh.releases.length, 1);
      assert.match(gh.releases[0].body, /create-run passed on forest1/);
    });

    it("wepppy-cicd record-release records a hotfix from its --json result: its reason and the checks it skipped in the release notes", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hotfix-json-"));
      const from = path.join(dir, "release.json");
      fs.writeFileSync(
        from,
        JSON.stringify({
          ok: true,
          action: "hotfix",
          stack: "prod",
          image: IMAGE,
          commit: fx.commits.c5,
          release: { tag: "prod-20261126-100000", version: "2026.11.2", actor: "roger", note: "hotfix: login broken" },
          hotfix: { reason: "login broken", skippedChecks: ["validation suites on testprod", "soak and error rate on testprod"] },
          notes: [],
        }),
      );
      const saved = { token: process.env.GITHUB_TOKEN, api: process.env.GITHUB_API_URL };
      process.env.GITHUB_TOKEN = TOKEN;
      process.env.GITHUB_API_URL = gh.baseUrl;
      try {
        const r = await runCli(["record-release", "--from", from, "--checkout", fx.work, "--push", "origin", "--github", "rogerlew/wepppy", "--json"]);
        assert.equal(r.code, 0, r.stderr + r.stdout);
      } finally {
        for (const [k, v] of [["GITHUB_TOKEN", saved.token], ["GITHUB_API_URL", saved.api]] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      assert.equal(git(fx.origin, "rev-parse", "prod-20261126-100000^{commit}"), fx.commits.c5);
      const body = gh.releases.find((x) => x.tag_name === "prod-20261126-100000")?.body ?? "";
      assert.match(body, /### Hotfix/);
      assert.match(body, /Bypassed testprod: login broken/);
      assert.match(body, /Skipped: validation suites on testprod, soak and error rate on testprod/);
    });

    it("passes git nothing it could read as an option", async () => {
      const repo = new GitRepo(fx.work);
      await assert.rejects(repo.createTag("--upload-pack=touch /tmp/x", fx.commits.c4, "m"), /neither a release tag/);
      await assert.rejects(repo.resolveCommit("--all"), /not a commit SHA or a release tag/);
      await assert.rejects(repo.pushTags("--receive-pack=x", ["prod-20261125-100000"]), /not a git remote/);
    });
  });
});
