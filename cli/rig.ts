import { spawn } from "node:child_process";
import * as path from "node:path";
import { Command } from "commander";
import * as rig from "../rig";
import { UsageError, collect, printJson, progress } from "./io";
import type { Cli } from "./main";

function fmtStatus(s: rig.RigStatus): string {
  return [
    `rig: ${s.up ? "up" : "down"}   state ${s.stateDir}   cache ${s.cacheDir}`,
    `dockerd: ${s.dockerd.responding ? "responding" : "not responding"}${s.dockerd.startedByRig ? ` (started by the rig, pid ${s.dockerd.pid})` : ""}`,
    `registry: ${s.registry.address} (${s.registry.running ? "running" : "not running"}), credentials ${s.registry.credentialsFile}`,
    ...s.hosts.map((h) => `host ${h.name.padEnd(8)} ${h.address}:${h.sshPort} ${h.sshUser} ${h.running ? "running" : "not running"}`),
    `ssh key ${s.hosts[0]?.privateKey}   known_hosts ${s.hosts[0]?.knownHosts}`,
    `images: ${s.baseImages.map((i) => `${i.name}${i.present ? "" : " (missing)"}`).join(", ")}`,
  ].join("\n");
}

export function registerRig(program: Command, cli: Cli): void {
  const r = program
    .command("rig")
    .summary("the throwaway-host rig: up | down | status | test | pipeline | seed-legacy")
    .description("Hosts forest, forest1 and wepp1 (sshd + their own Docker engine) and a registry standing in for ghcr.io, on this machine. Needs root. See rig/README.md.");
  r.command("up")
    .summary("bring the rig up (idempotent; cleans up a rig left by a killed run)")
    .option("--fresh", "rebuild the rig's images")
    .option("--json", "print the rig's status as JSON")
    .action(async (opts: { fresh?: boolean; json?: boolean }) => {
      const t0 = Date.now();
      const status = await rig.rigUp({ fresh: opts.fresh, log: (m) => progress(`rig: ${m}`) });
      progress(`rig: up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      if (opts.json) printJson(status);
      else progress(fmtStatus(status));
      cli.exit(status.up ? 0 : 1);
    });
  r.command("down")
    .summary("remove everything the rig made but its cached images and registry storage")
    .action(async () => {
      const t0 = Date.now();
      await rig.rigDown({ log: (m) => progress(`rig: ${m}`) });
      progress(`rig: down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      cli.exit(0);
    });
  r.command("status")
    .summary("hosts, registry and cached images")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const status = await rig.rigStatus();
      if (opts.json) printJson(status);
      else console.log(fmtStatus(status));
      cli.exit(0);
    });
  r.command("seed-legacy")
    .summary("make a rig host look like wepppy's hosts today (wctl's checkout, secrets, data), for adopt")
    .argument("<host>", "forest, forest1 or wepp1")
    .description(
      `Puts on the host what wepppy's hosts run today, before wepppy-cicd: a checkout (--dir, default
/workdir/wepppy) whose docker/ holds wepppy's prod compose file adapted for compose v1 by the rig's
transformation, defaults.env, caddy/Caddyfile and redis-entrypoint.sh; docker/.env (UID, GID and
--env lines) and docker/secrets/* with random values as wctl makes them; wctl's local images
(the stand-in --build tagged wepppy:latest and so on); the stack started as wctl starts it
(docker-compose -p <project> -f docker-compose.prod.yml up -d in docker/, as the deploy user);
Postgres rows written under the existing password, Redis keys, and a run directory under /wc1.
Refuses a host that has a seeding or a wepppy-cicd deployment unless --replace (which takes them
off, data included). --json prints what was seeded: names, counts and a sha256 per secret file,
never a secret's value.`,
    )
    .option("--dir <path>", "the checkout (docker/ is inside it)", "/workdir/wepppy")
    .option("--project <name>", "compose project name wctl used (-p)", "wepppy")
    .option("--build <build>", "stand-in build tagged as wctl's images", "rig-b")
    .option("--env <KEY=value>", "a line of docker/.env besides UID and GID (repeatable)", collect, [])
    .option("--replace", "take a previous seeding and any wepppy-cicd deployment off the host first")
    .option("--json", "print {ok, host, project, checkout, dockerDir, composeFiles, services, volumes, secrets: [{name, bytes, sha256}], envKeys, postgres, redis, runDir, images, seconds}")
    .action(async (host: string, opts: { dir: string; project: string; build: string; env: string[]; replace?: boolean; json?: boolean }) => {
      const env: Record<string, string> = {};
      for (const pair of opts.env) {
        const i = pair.indexOf("=");
        if (i <= 0) throw new UsageError(`--env expects KEY=value, got "${pair}"`);
        env[pair.slice(0, i)] = pair.slice(i + 1);
      }
      const { seedLegacy } = require("../rig/legacy") as typeof import("../rig/legacy");
      const result = await seedLegacy(host, { dir: opts.dir, project: opts.project, build: opts.build, env, replace: opts.replace, log: progress });
      if (opts.json) printJson(result);
      else {
        console.log(`ok: ${host} runs ${result.project} as wctl would, from ${result.dockerDir} (${Object.keys(result.services).length} services) in ${result.seconds} s`);
        console.log(`  volumes: ${result.volumes.map((v) => v.name).join(", ")}`);
        console.log(`  secrets: ${result.secrets.length} files in ${result.dockerDir}/secrets`);
        console.log(`  postgres: ${result.postgres.rows} rows in ${result.postgres.table}; redis: ${Object.entries(result.redis.keys).map(([db, n]) => `db ${db}: ${n}`).join(", ")} keys; run dir ${result.runDir.path} (${result.runDir.files} files)`);
      }
      cli.exit(0);
    });
  r.command("pipeline")
    .summary("the release path as GitHub Actions runs it: each job a fresh clone, only the state backend carried")
    .description(
      `On the rig, from empty hosts: commit A to testprod and promoted to prod; commit B likewise;
prod rolled back; commit C to testprod and promoted; a testprod secret rotated by an operator
(pulumi config set --secret, committed) and testprod updated; testprod moved to a rebuilt host
(new host key, empty disk) and updated. Each job is a fresh clone of this working tree's commit
(tracked changes included) with only the state backend carried. Checks what each job did on the
hosts. Exit 1 when a job or a check fails.`,
    )
    .option("--json", "print {ok, commit, jobs: [{name, ok, seconds, digest, live, colour}], checks, seconds}")
    .action(async (opts: { json?: boolean }) => {
      const { runPipeline } = require("../harness/pipeline/pipeline") as typeof import("../harness/pipeline/pipeline");
      const report = await runPipeline(progress);
      if (opts.json) printJson(report);
      else {
        for (const j of report.jobs) console.log(`${j.ok ? "ok    " : "FAILED"} ${j.name.padEnd(58)} ${String(j.seconds).padStart(6)} s${j.colour ? `  ${j.colour}` : ""}${j.error ? `  ${j.error}` : ""}`);
        for (const c of report.checks) console.log(`${c.ok ? "ok    " : "FAILED"} check: ${c.name}: ${c.detail}`);
        console.log(`${report.ok ? "ok" : "FAILED"}: ${report.jobs.length} jobs in ${report.seconds} s`);
      }
      cli.exit(report.ok ? 0 : 1);
    });
  r.command("test")
    .summary("run the rig's tests (test/rig/**/*.test.ts) against the rig")
    .argument("[mochaArgs...]", "more mocha arguments")
    .action(async (mochaArgs: string[]) => {
      const repo = path.resolve(__dirname, "..");
      const mocha = path.join(repo, "node_modules", "mocha", "bin", "mocha.js");
      const args = [mocha, "--require", "tsx/cjs", "--timeout", "900000", "test/rig/**/*.test.ts", ...mochaArgs];
      cli.exit(await new Promise<number>((resolve) => spawn(process.execPath, args, { cwd: repo, stdio: "inherit" }).on("close", (code) => resolve(code ?? 1))));
    });
}
