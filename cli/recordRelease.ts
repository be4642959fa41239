import * as fs from "node:fs";
import { Command } from "commander";
import { GitRepo } from "../ops/gitRepo";
import { githubReleases } from "../ops/githubReleases";
import { recordRelease } from "../ops/recordRelease";
import { OpResult } from "../ops/common";
import { UsageError, printJson, progress } from "./io";
import type { Cli } from "./main";

/*
 * `wepppy-cicd record-release`: after a promotion or a hotfix (its --json result), the release tag and
 * the version tag on the commit the promoted image was built from, pushed, and a GitHub
 * Release whose notes carry the evidence and the changes since the previous release.
 */

export function registerRecordRelease(program: Command, cli: Cli): void {
  program
    .command("record-release")
    .summary("tag the promoted image's commit (prod-YYYYMMDD-HHMMSS, YYYY.MM.PATCH) and publish its GitHub Release")
    .description(
      `Reads a promotion's result (wepppy-cicd promote --json, or hotfix --json, saved to a file) and puts its release
tag and version tag on the wepppy commit the promoted image was built from (not on the checkout's
HEAD), in the checkout given (it needs its history and tags), pushes them to --push, and with
--github publishes a GitHub Release on the tag (GITHUB_TOKEN, contents: write) with the evidence
and the changes since the previous release (GITHUB_API_URL, when set, is the API's address). Safe to run again: tags already there and an
existing release are left; a tag on another commit is refused before anything is pushed.`,
    )
    .requiredOption("--from <file>", "the promotion's (or hotfix's) --json result")
    .requiredOption("--checkout <dir>", "a wepppy checkout with its history and tags")
    .option("--push <remote>", "push the tags there (e.g. origin)")
    .option("--github <owner/repo>", "publish the GitHub Release there (needs --push)")
    .option("--json", "print the record as JSON")
    .action(async (opts: { from: string; checkout: string; push?: string; github?: string; json?: boolean }) => {
      let promoted: OpResult;
      try {
        promoted = JSON.parse(fs.readFileSync(opts.from, "utf8"));
      } catch (err) {
        throw new UsageError(`--from ${opts.from}: not a promotion's --json result (${(err as Error).message.split("\n")[0]})`);
      }
      if (!promoted.ok || (promoted.action !== "promote" && promoted.action !== "hotfix") || !promoted.release?.tag || !promoted.release.version || !promoted.image) {
        throw new UsageError(`--from ${opts.from}: not a successful promotion or hotfix with a release tag and version`);
      }
      if (opts.github && !opts.push) throw new UsageError("--github needs --push: a release is published on a tag the repository has");
      if (opts.github && !process.env.GITHUB_TOKEN) throw new UsageError("--github needs GITHUB_TOKEN in the environment (contents: write)");
      const [owner, repo] = (opts.github ?? "").split("/");
      // GITHUB_API_URL: what Actions sets (GitHub Enterprise Server has its own).
      const releases = opts.github
        ? githubReleases({ owner, repo, token: process.env.GITHUB_TOKEN!, baseUrl: process.env.GITHUB_API_URL })
        : undefined;
      const record = await recordRelease({
        git: new GitRepo(opts.checkout),
        remote: opts.push,
        releases,
        image: { ref: promoted.image, tags: promoted.commit ? [`sha-${promoted.commit}`] : [] },
        tag: promoted.release.tag,
        version: promoted.release.version,
        evidence: (promoted.evidence?.found ?? []).map((line) => ({ suite: line, checks: [] })),
        hotfix: promoted.action === "hotfix" ? promoted.hotfix : undefined,
        note: promoted.release.note,
        actor: promoted.release.actor,
        log: progress,
      });
      if (opts.json) printJson({ ok: true, ...record });
      else console.log(`ok: ${record.tags.map((t) => `${t.name} (${t.result})`).join(", ")} on ${record.commit}${record.release ? `; ${record.release.htmlUrl}` : ""}`);
      cli.exit(0);
    });
}
