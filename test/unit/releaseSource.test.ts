import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseStackConfig } from "../../config/load";
import { imageCommit, releaseSource } from "../../program/releaseSource";
import { stackConfig } from "./helpers";

/*
 * A release deploys the compose files of its own image's commit (issue 9): read from a real
 * git checkout of a wepppy-like repository at that commit, not from its working tree, so that
 * a rollback to an older release runs that release's files.
 */

describe("release source: the compose files of the image's commit", () => {
  let dir: string;
  let repo: string;
  let cache: string;
  const commits: string[] = [];
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { encoding: "utf8" }).trim();

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "relsrc-"));
    repo = path.join(dir, "wepppy");
    cache = path.join(dir, "cache");
    fs.mkdirSync(path.join(repo, "docker"), { recursive: true });
    git("init", "-q");
    git("config", "user.email", "t@example.invalid");
    git("config", "user.name", "t");
    for (const v of ["one", "two"]) {
      fs.writeFileSync(path.join(repo, "docker", "docker-compose.prod.yml"), `services: {} # release ${v}\n`);
      fs.writeFileSync(path.join(repo, "docker", "redis-entrypoint.sh"), `#!/bin/sh\necho ${v}\n`, { mode: 0o755 });
      git("add", "-A");
      git("commit", "-q", "-m", v);
      commits.push(git("rev-parse", "HEAD"));
    }
    // An uncommitted edit in the working tree: never what a release deploys.
    fs.writeFileSync(path.join(repo, "docker", "docker-compose.prod.yml"), "services: {} # not committed\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const config = (image: Record<string, unknown>, sourceAt = "commit") => {
    const raw = stackConfig("testprod", { image, "compose.sourceAt": sourceAt });
    return parseStackConfig("testprod", raw.values, { secretKeys: raw.secretKeys });
  };
  const compose = (d: string) => fs.readFileSync(path.join(d, "docker-compose.prod.yml"), "utf8");

  it("reads each release's files at its own commit (testprod: the sha-<commit> tag), modes kept", () => {
    const [one, two] = commits;
    const first = releaseSource(config({ source: "registry", tag: `sha-${one.slice(0, 12)}` }), path.join(repo, "docker"), cache);
    assert.equal(first.commit, one);
    assert.match(compose(first.dir), /release one/);
    assert.equal(fs.statSync(path.join(first.dir, "redis-entrypoint.sh")).mode & 0o111, 0o111);
    const second = releaseSource(config({ source: "registry", tag: `sha-${two}` }), path.join(repo, "docker"), cache);
    assert.match(compose(second.dir), /release two/);
    // A rollback to the first release: its own files again, not today's.
    assert.match(compose(releaseSource(config({ source: "registry", tag: `sha-${one}` }), path.join(repo, "docker"), cache).dir), /release one/);
  });

  it("prod: image.commit (promote sets it), or a hotfix's own tag", () => {
    const prod = (image: Record<string, unknown>) => {
      const raw = stackConfig("prod", { image, "compose.sourceAt": "commit" });
      return parseStackConfig("prod", raw.values, { secretKeys: raw.secretKeys });
    };
    const digest = `ghcr.io/rogerlew/wepppy@sha256:${"d".repeat(64)}`;
    assert.equal(imageCommit(prod({ source: "promoted", digest, commit: commits[0] }).image), commits[0]);
    assert.equal(imageCommit(prod({ source: "promoted", digest, commit: commits[0], hotfix: { tag: `sha-${commits[1]}`, reason: "urgent fix" } }).image), commits[1]);
    assert.match(compose(releaseSource(prod({ source: "promoted", digest, commit: commits[0] }), path.join(repo, "docker"), cache).dir), /release one/);
  });

  it("sourceAt checkout deploys the working tree as it is", () => {
    assert.match(compose(releaseSource(config({ source: "registry", tag: `sha-${commits[0]}` }, "checkout"), path.join(repo, "docker"), cache).dir), /not committed/);
  });

  it("refuses, saying what to do, when the commit is missing, unknown or the directory is no git checkout", () => {
    assert.throws(() => releaseSource(config({ source: "registry", tag: `sha-${"e".repeat(40)}` }), path.join(repo, "docker"), cache), /has no commit e{40} \(the image's\): fetch it .*fetch-depth: 0/);
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), "relsrc-plain-"));
    try {
      assert.throws(() => releaseSource(config({ source: "registry", tag: `sha-${commits[0]}` }), plain, cache), /is not in a git checkout of wepppy/);
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
    const raw = stackConfig("prod", { image: { source: "promoted", digest: `ghcr.io/rogerlew/wepppy@sha256:${"d".repeat(64)}` }, "compose.sourceAt": "commit" });
    assert.throws(() => releaseSource(parseStackConfig("prod", raw.values, { secretKeys: raw.secretKeys }), path.join(repo, "docker"), cache), /the image names no commit/);
  });
});
