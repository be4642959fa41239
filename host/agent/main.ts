import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Agent } from "./agent";
import { realClock } from "./clock";
import { runCli } from "./commands";
import { cliCompose } from "./compose";
import { cliDocker } from "./docker";
import { nodeHttp } from "./http";
import { containerLauncher, runtimeFromEnv } from "./launcher";
import { engineDocker } from "./dockerEngine";
import { hostProcesses } from "./processes";

/*
 * The agent's entry point, bundled into <root>/bin/wepppy-agent.js and run by node inside
 * the agent image (host/agent/Dockerfile), which the bootstrap (host/wepppy-deploy.sh)
 * starts with the docker socket and the host's directories mounted at their own paths.
 */

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d: string) => (text += d));
    process.stdin.on("end", () => resolve(text));
    process.stdin.on("error", reject);
  });
}

async function main(): Promise<number> {
  const env = process.env;
  const root = env.WEPPPY_DEPLOY_ROOT ?? path.resolve(path.dirname(process.argv[1] ?? "."), "..");
  const who = env.WEPPPY_DEPLOY_ACTOR || env.USER || "unknown";
  // The Engine API on the socket where the agent has it (its container mounts it); the CLI otherwise.
  const socket = env.WEPPPY_DOCKER_SOCKET ?? "/var/run/docker.sock";
  const docker = !env.DOCKER_HOST && fs.existsSync(socket) ? engineDocker(socket, cliDocker()) : cliDocker();
  const agent: Agent = {
    root,
    docker,
    compose: cliCompose(),
    http: nodeHttp,
    clock: realClock,
    processes: hostProcesses,
    launcher: containerLauncher(docker, runtimeFromEnv(env), who),
    hostname: env.WEPPPY_HOSTNAME || os.hostname(),
    who,
    pid: process.pid,
    clientPid: /^[1-9][0-9]*$/.test(env.WEPPPY_CLIENT_PID ?? "") ? Number(env.WEPPPY_CLIENT_PID) : undefined,
    out: {
      say: (t) => process.stderr.write(`${t}\n`),
      print: (t) => process.stdout.write(`${t}\n`),
    },
  };
  // A client whose SSH connection dropped gets SIGPIPE/EPIPE on its output: the run it
  // started goes on in its own container, so the client just ends.
  process.stdout.on("error", () => process.exit(1));
  process.stderr.on("error", () => undefined);
  return runCli(agent, process.argv.slice(2), readStdin);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`[wepppy-deploy] error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
