import { createHash } from "node:crypto";
import type { Launcher } from "./agent";
import type { Docker } from "./docker";
import { tail } from "./exec";

/*
 * How the agent starts itself detached on a host: a container of its own from the same
 * image, with the same mounts, user and namespaces as the container the bootstrap started
 * (which it describes in WEPPPY_AGENT_* variables). That container does not belong to the
 * SSH session, so a dropped connection leaves it running to its verdict. The host's pid
 * namespace lets the lock record host pids; the host's network lets the smoke test reach
 * Caddy on 127.0.0.1.
 */

export interface AgentRuntime {
  image: string;
  /** uid:gid the agent runs as (the deploy user's). */
  user: string;
  /** Extra groups (the docker socket's group). */
  groups: string[];
  /** Host directories mounted at the same paths (the deploy root, the compose project's parent). */
  mounts: string[];
  socket: string;
  /** The host's docker CLI plugin directories (compose v2 lives there), mounted read-only at their paths. */
  pluginDirs: string[];
  dockerConfig?: string;
  root: string;
  bundle: string;
  hostname?: string;
}

const WORD = /^[A-Za-z0-9._\/:@+=,-]+$/;

export function runtimeFromEnv(env: NodeJS.ProcessEnv): AgentRuntime | undefined {
  const image = env.WEPPPY_AGENT_IMAGE;
  const root = env.WEPPPY_DEPLOY_ROOT;
  if (!image || !root) return undefined;
  const words = (v: string | undefined) => (v ?? "").split(/\s+/).filter(Boolean);
  const rt: AgentRuntime = {
    image,
    user: env.WEPPPY_AGENT_USER ?? "0:0",
    groups: words(env.WEPPPY_AGENT_GROUPS),
    mounts: words(env.WEPPPY_AGENT_MOUNTS),
    socket: env.WEPPPY_DOCKER_SOCKET ?? "/var/run/docker.sock",
    pluginDirs: words(env.WEPPPY_AGENT_PLUGIN_DIRS),
    dockerConfig: env.DOCKER_CONFIG || undefined,
    root,
    bundle: env.WEPPPY_AGENT_BUNDLE ?? `${root}/bin/wepppy-agent.js`,
    hostname: env.WEPPPY_HOSTNAME || undefined,
  };
  for (const w of [rt.image, rt.user, ...rt.groups, ...rt.mounts, ...rt.pluginDirs, rt.socket, rt.root, rt.bundle, ...(rt.dockerConfig ? [rt.dockerConfig] : [])]) {
    if (!WORD.test(w)) throw new Error(`agent runtime: '${w}' is not a plain word (WEPPPY_AGENT_* from the bootstrap)`);
  }
  return rt;
}

/** The environment a detached agent needs: the same runtime, so that it can detach in turn (a retire). */
export function runtimeEnv(rt: AgentRuntime, actor: string): Record<string, string> {
  return {
    WEPPPY_AGENT_IMAGE: rt.image,
    WEPPPY_AGENT_USER: rt.user,
    WEPPPY_AGENT_GROUPS: rt.groups.join(" "),
    WEPPPY_AGENT_MOUNTS: rt.mounts.join(" "),
    WEPPPY_AGENT_PLUGIN_DIRS: rt.pluginDirs.join(" "),
    WEPPPY_DOCKER_SOCKET: rt.socket,
    WEPPPY_DEPLOY_ROOT: rt.root,
    WEPPPY_AGENT_BUNDLE: rt.bundle,
    WEPPPY_DEPLOY_ACTOR: actor,
    ...(rt.hostname ? { WEPPPY_HOSTNAME: rt.hostname } : {}),
    ...(rt.dockerConfig ? { DOCKER_CONFIG: rt.dockerConfig } : {}),
  };
}

/** `docker run -d` arguments (after `run -d`) for a detached agent; pure, so the unit tier checks them. */
export function detachedArgs(rt: AgentRuntime, name: string, argv: string[], actor: string): string[] {
  const env = runtimeEnv(rt, actor);
  return [
    "--name", name,
    "--rm",
    "--pid", "host",
    "--network", "host",
    "--user", rt.user,
    ...rt.groups.flatMap((g) => ["--group-add", g]),
    "--label", "org.wepppy.cicd.agent=detached",
    "-v", `${rt.socket}:${rt.socket}`,
    ...rt.mounts.flatMap((m) => ["-v", `${m}:${m}`]),
    ...rt.pluginDirs.flatMap((d) => ["-v", `${d}:${d}:ro`]),
    ...(rt.dockerConfig ? ["-v", `${rt.dockerConfig}:${rt.dockerConfig}:ro`] : []),
    ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    rt.image,
    "node", rt.bundle, ...argv,
  ];
}

/**
 * A container dockerd starts at every start (restart: unless-stopped) that runs the agent once,
 * then only sleeps: `recover` at boot without systemd or cron, on the rig's hosts as on wepppy's.
 * Its label carries a digest of what it runs, so an unchanged one is left alone.
 */
export function atEveryStartArgs(rt: AgentRuntime, name: string, argv: string[], actor: string): { args: string[]; digest: string } {
  const base = detachedArgs(rt, name, argv, actor).filter((a) => a !== "--rm");
  const at = base.indexOf(rt.image);
  // The agent runs, then the container stays up doing nothing, so that the policy does not restart it in a loop.
  const args = [...base.slice(0, at), "--restart", "unless-stopped", rt.image, "sh", "-c", 'node "$@"; exec sleep infinity', "agent", rt.bundle, ...argv];
  const digest = createHash("sha256").update(JSON.stringify(args)).digest("hex").slice(0, 16);
  return { args: ["--label", `org.wepppy.cicd.args=${digest}`, ...args], digest };
}

export function containerLauncher(docker: Docker, rt: AgentRuntime | undefined, actor: string): Launcher {
  const runtime = () => {
    if (!rt) throw new Error("the agent starts detached runs only when run by its bootstrap (wepppy-deploy), which describes its container in WEPPPY_AGENT_*");
    return rt;
  };
  return {
    async detach(name, argv) {
      const r = await docker.runDetached(detachedArgs(runtime(), name, argv, actor));
      if (r.code !== 0) throw new Error(`docker run ${name} failed: ${tail(r.stderr, 4)}`);
    },
    async atEveryStart(name, argv) {
      const { args, digest } = atEveryStartArgs(runtime(), name, argv, actor);
      const existing = await docker.inspect(name);
      if (existing?.labels["org.wepppy.cicd.args"] === digest) return "unchanged";
      await docker.remove(name);
      const r = await docker.runDetached(args);
      if (r.code !== 0) throw new Error(`docker run ${name} failed: ${tail(r.stderr, 4)}`);
      return "created";
    },
  };
}
