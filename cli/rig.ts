import { parseArgs } from "node:util";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { printJson, progress, Subcommand, UsageError } from "./command";
import * as rig from "../rig";

const usage = `usage: wepppy-cicd rig <up|down|status|test> [options]

The throwaway-host rig: hosts forest, forest1 and wepp1 (sshd + their own Docker engine) and a
registry standing in for ghcr.io, on this machine. Needs root. See rig/README.md.

  rig up [--fresh] [--json]   bring the rig up (idempotent; cleans up a rig left by a killed run)
  rig down                    remove everything the rig made but its cached images and registry storage
  rig status [--json]         hosts (address, SSH port, user, key, known_hosts, pinned host key),
                              registry (address, credentials file), cached base images
  rig test [-- mocha args]    run the rig's own tests (test/rig/**/*.test.ts) against the rig`;

function fmtStatus(s: rig.RigStatus): string {
  const lines = [
    `rig: ${s.up ? "up" : "down"}   state ${s.stateDir}   cache ${s.cacheDir}`,
    `dockerd: ${s.dockerd.responding ? "responding" : "not responding"}${s.dockerd.startedByRig ? ` (started by the rig, pid ${s.dockerd.pid})` : ""}`,
    `registry: ${s.registry.address} (${s.registry.running ? "running" : "not running"}), credentials ${s.registry.credentialsFile}`,
    ...s.hosts.map(
      (h) => `host ${h.name.padEnd(8)} ${h.address}:${h.sshPort} ${h.sshUser} ${h.running ? "running" : "not running"}`,
    ),
    `ssh key ${s.hosts[0]?.privateKey}   known_hosts ${s.hosts[0]?.knownHosts}`,
    `images: ${s.baseImages.map((i) => `${i.name}${i.present ? "" : " (missing)"}`).join(", ")}`,
  ];
  return lines.join("\n");
}

export const rigCommand: Subcommand = {
  name: "rig",
  summary: "throwaway-host rig: rig up | down | status | test",
  usage,
  async run(argv: string[]): Promise<number> {
    const [action, ...rest] = argv;
    switch (action) {
      case "up": {
        const { values } = parseArgs({ args: rest, options: { fresh: { type: "boolean" }, json: { type: "boolean" } } });
        const t0 = Date.now();
        const status = await rig.rigUp({ fresh: values.fresh, log: (m) => progress(`rig: ${m}`) });
        progress(`rig: up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        if (values.json) printJson(status);
        else progress(fmtStatus(status));
        return status.up ? 0 : 1;
      }
      case "down": {
        parseArgs({ args: rest, options: {} });
        const t0 = Date.now();
        await rig.rigDown({ log: (m) => progress(`rig: ${m}`) });
        progress(`rig: down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return 0;
      }
      case "status": {
        const { values } = parseArgs({ args: rest, options: { json: { type: "boolean" } } });
        const status = await rig.rigStatus();
        if (values.json) printJson(status);
        else console.log(fmtStatus(status));
        return 0;
      }
      case "test": {
        const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true });
        const repo = path.resolve(__dirname, "..");
        const mocha = path.join(repo, "node_modules", "mocha", "bin", "mocha.js");
        const args = [mocha, "--require", "tsx/cjs", "--timeout", "600000", "test/rig/**/*.test.ts", ...positionals];
        return new Promise<number>((resolve) => {
          const child = spawn(process.execPath, args, { cwd: repo, stdio: "inherit" });
          child.on("close", (code) => resolve(code ?? 1));
        });
      }
      default:
        throw new UsageError(action ? `unknown rig action "${action}"` : "missing rig action");
    }
  },
};
