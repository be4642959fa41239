import { CmdResult, RunOptions, Runner, runCommand } from "./exec";

/*
 * Docker, driven through its CLI with typed results: `docker ps --format '{{json .}}'`
 * finds a compose project's containers by the labels compose itself selects by (in
 * milliseconds, where compose v1's own `ps` parses the whole project first), and one
 * `docker inspect` reads their image, state and health. The orchestration sees only this
 * interface, so the unit tier runs it against a fake with recorded answers.
 */

export interface ContainerInfo {
  id: string;
  name: string;
  /** com.docker.compose.service, or "" for a container compose did not make. */
  service: string;
  /** The image reference the container was created from (Config.Image), as compose wrote it. */
  image: string;
  running: boolean;
  /** created, running, restarting, exited, dead, ... */
  status: string;
  /** Docker's health: healthy, unhealthy, starting, or none (no healthcheck). */
  health: string;
  startedAt: string;
  labels: Record<string, string>;
}

export interface ExecOptions {
  env?: Record<string, string>;
  stdinFile?: string;
  stdoutFile?: string;
  timeoutMs?: number;
}

export interface Docker {
  /** The project's service containers (no one-off `compose run` containers), each inspected. */
  /**
   * `services`: only those services' containers are inspected (a container being stopped
   * blocks its inspect until it has stopped; a warm switch reads only the colours).
   */
  containers(project: string, services?: string[]): Promise<ContainerInfo[]>;
  inspect(nameOrId: string): Promise<ContainerInfo | null>;
  /** docker exec; env values reach the process inside the container, never its argv. */
  exec(container: string, argv: string[], options?: ExecOptions): Promise<CmdResult>;
  logsTail(container: string, lines: number): Promise<string>;
  /** Whether the engine has the image already (a digest-pinned reference needs no pull then). */
  hasImage(ref: string): Promise<boolean>;
  pull(ref: string): Promise<CmdResult>;
  /** docker rm -f; a missing container is not an error. */
  remove(nameOrId: string): Promise<void>;
  /** docker run -d with these arguments (the agent's own detached runs). */
  runDetached(args: string[]): Promise<CmdResult>;
}

export const LABELS = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  oneoff: "com.docker.compose.oneoff",
} as const;

interface PsLine {
  ID?: string;
  Names?: string;
}

/** `docker ps --format '{{json .}}'`: one object per line. */
export function parsePsLines(text: string): Array<{ id: string; name: string }> {
  const out: Array<{ id: string; name: string }> = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as PsLine;
    if (typeof row.ID === "string") out.push({ id: row.ID, name: String(row.Names ?? "") });
  }
  return out;
}

interface InspectJson {
  Id?: string;
  Name?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  State?: { Status?: string; Running?: boolean; StartedAt?: string; Health?: { Status?: string } | null };
}

/** `docker inspect` of containers: a JSON array. */
export function parseInspect(text: string): ContainerInfo[] {
  const rows = JSON.parse(text) as InspectJson[];
  if (!Array.isArray(rows)) throw new Error("docker inspect did not print a JSON array");
  return rows.map((r) => {
    const labels = r.Config?.Labels ?? {};
    return {
      id: String(r.Id ?? ""),
      name: String(r.Name ?? "").replace(/^\//, ""),
      service: labels[LABELS.service] ?? "",
      image: String(r.Config?.Image ?? ""),
      running: r.State?.Running === true,
      status: String(r.State?.Status ?? "unknown"),
      health: r.State?.Health?.Status ? String(r.State.Health.Status) : "none",
      startedAt: String(r.State?.StartedAt ?? ""),
      labels,
    };
  });
}

/** The container of a service: a running one first, then the most recently started. */
export function containerOf(containers: ContainerInfo[], service: string): ContainerInfo | undefined {
  return containers
    .filter((c) => c.service === service)
    .sort((a, b) => Number(b.running) - Number(a.running) || (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))[0];
}

export function cliDocker(run: Runner = runCommand, env: NodeJS.ProcessEnv = process.env): Docker {
  const docker = (args: string[], options: RunOptions = {}) => run(["docker", ...args], { env, ...options });
  const inspectMany = async (ids: string[]): Promise<ContainerInfo[]> => {
    if (ids.length === 0) return [];
    const r = await docker(["inspect", "--type", "container", ...ids]);
    // A container removed between ps and inspect makes inspect fail for all: ask one by one then.
    if (r.code !== 0) {
      const each = await Promise.all(ids.map((id) => docker(["inspect", "--type", "container", id])));
      return each.filter((x) => x.code === 0).flatMap((x) => parseInspect(x.stdout));
    }
    return parseInspect(r.stdout);
  };
  return {
    async containers(project, services) {
      // Label filters are ANDed: one ps per service when only some are wanted.
      const ps = (extra: string[]) =>
        docker(["ps", "-a", "--no-trunc", "--filter", `label=${LABELS.project}=${project}`, "--filter", `label=${LABELS.oneoff}=False`, ...extra, "--format", "{{json .}}"]);
      const answers = await Promise.all(services ? services.map((s) => ps(["--filter", `label=${LABELS.service}=${s}`])) : [ps([])]);
      const failed = answers.find((r) => r.code !== 0);
      if (failed) throw new Error(`docker ps failed: ${failed.stderr.trim()}`);
      return inspectMany(answers.flatMap((r) => parsePsLines(r.stdout).map((x) => x.id)));
    },
    async inspect(nameOrId) {
      const r = await docker(["inspect", "--type", "container", nameOrId]);
      if (r.code !== 0) return null;
      return parseInspect(r.stdout)[0] ?? null;
    },
    exec(container, argv, options = {}) {
      const envArgs = Object.keys(options.env ?? {}).flatMap((k) => ["-e", k]);
      return docker(["exec", ...(options.stdinFile ? ["-i"] : []), ...envArgs, container, ...argv], {
        // `-e NAME` without a value: docker takes the value from its own environment, so values never reach an argv.
        env: { ...env, ...(options.env ?? {}) },
        stdinFile: options.stdinFile,
        stdoutFile: options.stdoutFile,
        timeoutMs: options.timeoutMs,
      });
    },
    async logsTail(container, lines) {
      const r = await docker(["logs", "--tail", String(lines), container]);
      return `${r.stdout}${r.stderr}`;
    },
    async hasImage(ref) {
      return (await docker(["image", "inspect", "--format", "{{.Id}}", ref])).code === 0;
    },
    pull(ref) {
      return docker(["pull", "-q", ref]);
    },
    async remove(nameOrId) {
      await docker(["rm", "-f", nameOrId]);
    },
    runDetached(args) {
      return docker(["run", "-d", ...args]);
    },
  };
}
