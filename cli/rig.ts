import { spawn } from "node:child_process";
import * as path from "node:path";
import { Command } from "commander";
import * as rig from "../rig";
import { printJson, progress } from "./io";
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
    .summary("the throwaway-host rig: up | down | status | test | pipeline")
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
