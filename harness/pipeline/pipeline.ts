import { createHash, randomBytes } from "node:crypto";
import * as path from "node:path";
import { NAMESPACE, stackFileName } from "../../config/environments";
import { clearDeployment, readState, rebuildHost } from "../../rig";
import { run } from "../../rig/exec";
import { publishDerivedBuild } from "../../rig/registry";
import { ProjectStackFile } from "../engine/projectStack";
import { ensureRig } from "../rehearsal/rigStack";
import { rigAudit, rigJobSettings, waitForSoak } from "../rehearsal/rigJobSettings";
import { rigRepository } from "../rehearsal/rigTarget";
import { CiWorld, JobOutcome, JobStep, ciWorld, commitAndPush, runJob } from "./ciJob";

/*
 * `wepppy-cicd rig pipeline`: the release path run on the rig the way GitHub Actions runs
 * it, each job a fresh clone with only the state backend carried over: prod's first up of the
 * release it already runs (the first day's, after adopt); master commit A to
 * testprod (deploy + validation) and promoted to prod; commit B likewise; prod rolled back;
 * commit C to testprod and promoted; an operator rotates a testprod secret (pulumi config
 * set --secret, committed) and testprod is updated; testprod moves to a rebuilt host (new
 * host key, empty disk) and is updated. What each job did is checked on the hosts.
 */

export interface PipelineJob {
  name: string;
  ok: boolean;
  seconds: number;
  digest?: string;
  live?: string;
  colour?: string;
  error?: string;
}

export interface PipelineReport {
  ok: boolean;
  commit: string;
  jobs: PipelineJob[];
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  seconds: number;
}

const SECRET = "oauth_github_client_secret";

const commitTag = () => `sha-${randomBytes(20).toString("hex")}`;
const fingerprint = (value: string) => createHash("sha256").update(value).digest("hex").slice(0, 16);

async function fromHost(address: string, urlPath: string): Promise<any> {
  const r = await run(["curl", "-sS", "--max-time", "5", "-H", "X-Forwarded-Proto: https", `http://${address}:8080${urlPath}`]);
  try {
    return JSON.parse(r.stdout);
  } catch {
    return { error: r.stderr.trim() || r.stdout.slice(0, 100) };
  }
}

function summary(job: JobOutcome): PipelineJob {
  const last = [...job.steps].reverse().find((s) => s.json);
  const j = last?.json ?? {};
  return { name: job.name, ok: job.ok, seconds: job.seconds, digest: j.digest || undefined, live: j.image || undefined, colour: j.live || undefined, ...(job.error ? { error: job.error } : {}) };
}

export async function runPipeline(log: (line: string) => void = () => undefined): Promise<PipelineReport> {
  const t0 = Date.now();
  const status = await ensureRig(log);
  const address = (name: string) => status.hosts.find((h) => h.name === name)!.address;
  log("clearing testprod's and prod's hosts (forest1, wepp1): the pipeline starts from nothing");
  await Promise.all(["forest1", "wepp1"].map(clearDeployment));
  const world: CiWorld = ciWorld();
  log(`origin ${world.origin} at ${world.commit.slice(0, 12)}; backend ${world.backend}`);

  const standins = readState()!.standins.weppcloud;
  const repo = rigRepository(status);
  const builds: Record<string, { tag: string; image: string }> = {};
  for (const [name, base] of [["pipe-0", "rig-b"], ["pipe-a", "rig-a"], ["pipe-b", "rig-b"], ["pipe-c", "rig-a"]] as const) {
    const tag = commitTag();
    builds[name] = { tag, image: await publishDerivedBuild(standins[base], name, tag) };
    log(`CI published commit ${name} as ${repo}:${tag}`);
  }

  const jobs: JobOutcome[] = [];
  const checks: PipelineReport["checks"] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    log(`check ${ok ? "ok" : "FAILED"}: ${name}: ${detail}`);
  };
  const job = async (name: string, steps: JobStep[]) => {
    const outcome = await runJob(world, name, steps, log);
    jobs.push(outcome);
    return outcome;
  };
  const json = (o: JobOutcome) => [...o.steps].reverse().find((s) => s.json)?.json ?? {};
  const deployTestprod = async (build: string) => {
    const outcome = await job(`testprod: deploy ${build}`, [{ cli: ["release", "-s", "testprod", "--image", `${repo}:${builds[build].tag}`, "--rig", "--json"], env: { WEPPPY_RIG_SET: rigJobSettings("testprod") } }]);
    // The promotion comes later, as in GitHub (a person approves it): here, once testprod's soak has its verdict.
    if (outcome.ok) await soaked(String(json(outcome).digest ?? ""));
    return outcome;
  };
  const soaked = async (digest: string) => {
    const record = await waitForSoak(digest);
    log(record ? `testprod's soak of ${digest.slice(0, 19)}: ${record.result}` : `testprod's soak of ${digest.slice(0, 19)} has no verdict after 180 s`);
  };
  const promote = (label: string) => job(`prod: promote ${label}`, [{ cli: ["promote", "--rig", "--json"], env: { WEPPPY_RIG_SET: rigJobSettings("prod") } }]);

  const served = async (host: string) => (await fromHost(address(host), "/weppcloud/version")).build as string | undefined;

  // prod is not empty on its first promotion: wepp1 runs wepppy, with its data, and the first day
  // ends with prod's first up of what it runs (README, "A real first day"). Here: pipe-0.
  const firstUp = await job("prod: its first up (the release it runs today)", [{ cli: ["rehearse", "prod", "--set", `image.digest=${builds["pipe-0"].image}`, "--json"], env: { WEPPPY_RIG_SET: rigJobSettings("prod") } }]);
  check("prod's first up serves what it ran", firstUp.ok && (await served("wepp1")) === "pipe-0", `prod serves ${await served("wepp1")}`);
  if ((await deployTestprod("pipe-a")).ok) check("testprod serves commit A", (await served("forest1")) === "pipe-a", `forest1 serves ${await served("forest1")}`);
  const promoteA = await promote("A");
  const colourA = json(promoteA).live as string | undefined;
  check("promotion of A lands and serves", promoteA.ok && (await served("wepp1")) === "pipe-a", `prod serves ${await served("wepp1")} on ${colourA}`);

  await deployTestprod("pipe-b");
  const promoteB = await promote("B");
  const colourB = json(promoteB).live as string | undefined;
  check("promotion of B lands on the colour that was idle", promoteB.ok && !!colourA && !!colourB && colourA !== colourB && (await served("wepp1")) === "pipe-b", `A was on ${colourA}, B went to ${colourB}; prod serves ${await served("wepp1")}`);

  const rollback = await job("prod: rollback", [{ cli: ["rollback", "-s", "prod", "--rig", "--json"], env: { WEPPPY_RIG_SET: rigJobSettings("prod") } }]);
  const back = json(rollback);
  // The host's record of the rollback's deploy: the switch to the warm colour, timed from the request's arrival.
  const warm = (await rigAudit("wepp1")).reverse().find((e) => e.action === "deploy" && e.result === "ok");
  check(
    "rollback puts A back live on its warm colour within 2 s of the deploy starting",
    rollback.ok && back.image === builds["pipe-a"].image && back.live === colourA && warm?.live === colourA && warm?.warm === true && warm?.switchMs !== undefined && warm.switchMs <= 2000 && (await served("wepp1")) === "pipe-a",
    `live ${back.image === builds["pipe-a"].image ? "A" : back.image} on ${back.live}; host: ${warm ? `${warm.action} to ${warm.live} in ${warm.switchMs ?? "?"} ms (${warm.note ?? ""})` : "no deploy entry"}`,
  );

  await deployTestprod("pipe-c");
  const promoteC = await promote("C");
  check("the third promotion (C) lands", promoteC.ok && (await served("wepp1")) === "pipe-c", `prod serves ${await served("wepp1")} on ${json(promoteC).live}`);

  const rotated = randomBytes(18).toString("base64url");
  await job("operator: rotate a testprod secret", [
    {
      what: `pulumi config set --secret --path ${NAMESPACE}:secrets.${SECRET} (committed, as an operator commits the stack file)`,
      run: (checkout) => {
        const file = path.join(checkout, stackFileName("testprod"));
        const stack = new ProjectStackFile(file, { passphrase: () => require("node:fs").readFileSync(world.passphraseFile, "utf8").trim() });
        stack.set(`${NAMESPACE}:secrets.${SECRET}`, { value: rotated, secret: true }, true);
        stack.save();
        commitAndPush(checkout, [stackFileName("testprod")], `testprod: rotate ${SECRET}`);
      },
    },
  ]);
  const upAfterRotation = await job("testprod: up with the rotated secret", [{ cli: ["config", "sync", "-s", "testprod", "--rig", "--json"] }, { cli: ["rehearse", "testprod", "--json"], env: { WEPPPY_RIG_SET: rigJobSettings("testprod") } }]);
  const printAfterRotation = (await fromHost(address("forest1"), "/weppcloud/secrets-fingerprint"))[SECRET];
  check("the app reads the rotated secret", upAfterRotation.ok && printAfterRotation === fingerprint(rotated), `fingerprint ${printAfterRotation}, expected ${fingerprint(rotated)}; serves ${await served("forest1")}`);

  await job("infrastructure: rebuild testprod's host (new host key, empty disk)", [{ what: "rig: rebuild forest1", run: async () => void (await rebuildHost("forest1", { log })) }]);
  const moved = await job("testprod: up on the rebuilt host", [{ cli: ["config", "sync", "-s", "testprod", "--rig", "--json"] }, { cli: ["rehearse", "testprod", "--json"], env: { WEPPPY_RIG_SET: rigJobSettings("testprod") } }]);
  const printAfterMove = (await fromHost(address("forest1"), "/weppcloud/secrets-fingerprint"))[SECRET];
  check("the rebuilt host serves testprod's release, with the rotated secret", moved.ok && (await served("forest1")) === "pipe-c" && printAfterMove === fingerprint(rotated), `serves ${await served("forest1")}; fingerprint ${printAfterMove}`);

  const report: PipelineReport = {
    ok: jobs.every((j) => j.ok) && checks.every((c) => c.ok),
    commit: world.commit,
    jobs: jobs.map(summary),
    checks,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  return report;
}
