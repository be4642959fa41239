import { readEnvText } from "./envFile";
import { commandLine } from "./hostCommands";
import { Sealed, seal } from "./sealed";

/*
 * What `wepppy-cicd adopt` runs on a host to learn what it runs today, as plain command text
 * built by pure functions (like render/hostCommands.ts), and the parsers of what they print.
 * Nothing here changes the host. Secret values travel only on the commands' stdout, never on
 * a command line: the commands name directories and files, and the host prints each file as
 * one line of tab-separated fields with the name and the bytes base64-encoded, a framing that
 * survives any byte (newlines, NULs, quotes, `$(`...). Every stream ends with an `end` line, so
 * a cut-off answer is an error, not a shorter list.
 *
 * The flow: discoverCommand() -> parseDiscovery -> pickProject (the project running the app,
 * as wctl started it) -> projectFilesCommand(project) -> parseProjectFiles -> hostSnapshot.
 */

/** What adopt reads from a host running wepppy today. */
export interface HostSnapshot {
  host: string;
  /** The compose project as wctl started it (container labels com.docker.compose.*). */
  project: {
    name: string;
    /** com.docker.compose.project.working_dir: where compose ran (wepppy's docker/ in the checkout). */
    workingDir: string;
    /** com.docker.compose.project.config_files, relative to workingDir where under it, in -f order. */
    configFiles: string[];
  };
  /** The git checkout workingDir belongs to. */
  checkout?: { dir: string; head: string; branch: string; dirty: number };
  /** Each service's container: the image as configured, the image id it runs, its state. */
  services: Record<string, { container: string; image: string; imageId: string; state: string }>;
  /** The project's docker volumes: docker's name and compose's (com.docker.compose.volume). */
  volumes: Array<{ name: string; composeName?: string }>;
  /** Text of each compose file the project runs, by configFiles entry. */
  composeFiles: Record<string, string>;
  /** The project's .env as compose reads it. Its values may be secrets (older layouts). */
  env: { present: boolean; values: Sealed<Record<string, string>>; problems: string[]; mode?: string; uid?: number; gid?: number };
  /** Every regular file in <workingDir>/secrets/, byte for byte, by file name. */
  secretFiles: Record<string, { content: Sealed<Buffer>; mode: string; uid: number; gid: number }>;
  /** Entries of secrets/ that were not read (symlinks, directories, unreadable), with why. */
  skipped: string[];
  /** The docker group's gid on the host. */
  dockerGid?: number;
}

/** `bash -c SCRIPT bash ARGS...`: the script is constant text, the arguments are quoted words. */
function bashScript(script: string, args: string[], sudo: boolean): string {
  return commandLine([...(sudo ? ["sudo", "-n"] : []), "bash", "-c", script, "bash", ...args]);
}

const TAB = '{{"\\t"}}';

/**
 * Containers of every compose project (their labels say project, service, working dir and
 * config files, as compose v1 and v2 both set them), every volume with its labels, and the
 * docker group's gid. Never `.Config.Env`: in older layouts it holds the secrets.
 */
export const DISCOVER_SCRIPT = [
  "set -u -o pipefail",
  "ids=$(docker ps -aq --no-trunc --filter label=com.docker.compose.project) || exit 1",
  `if [ -n "$ids" ]; then docker inspect --format '{{json .Name}}${TAB}{{json .Config.Image}}${TAB}{{json .Image}}${TAB}{{json .State.Status}}${TAB}{{json .Config.Labels}}' $ids | sed 's/^/container\\t/' || exit 1; fi`,
  "vols=$(docker volume ls -q) || exit 1",
  `if [ -n "$vols" ]; then docker volume inspect --format '{{json .Name}}${TAB}{{json .Labels}}' $vols | sed 's/^/volume\\t/' || exit 1; fi`,
  "printf 'dockergid\\t%s\\n' \"$(getent group docker | cut -d: -f3)\"",
  "printf 'end\\n'",
].join("\n");

export function discoverCommand(opts: { sudo?: boolean } = {}): string {
  return bashScript(DISCOVER_SCRIPT, [], opts.sudo ?? false);
}

export interface DiscoveredContainer {
  name: string;
  image: string;
  imageId: string;
  state: string;
  labels: Record<string, string>;
}

export interface Discovery {
  containers: DiscoveredContainer[];
  volumes: Array<{ name: string; labels: Record<string, string> }>;
  dockerGid?: number;
}

function json<T>(field: string, what: string): T {
  try {
    return JSON.parse(field) as T;
  } catch {
    throw new Error(`adopt: the host printed a ${what} that is not JSON`);
  }
}

function ended(lines: string[], what: string): string[] {
  const body = lines.filter((l) => l !== "");
  if (body[body.length - 1] !== "end") throw new Error(`adopt: the host's answer to ${what} was cut off (no end line)`);
  return body.slice(0, -1);
}

export function parseDiscovery(stdout: string): Discovery {
  const out: Discovery = { containers: [], volumes: [] };
  for (const line of ended(stdout.split("\n"), "the discovery")) {
    const f = line.split("\t");
    if (f[0] === "container" && f.length === 6) {
      out.containers.push({
        name: json<string>(f[1], "container name").replace(/^\//, ""),
        image: json<string>(f[2], "container image"),
        imageId: json<string>(f[3], "image id"),
        state: json<string>(f[4], "container state"),
        labels: json<Record<string, string> | null>(f[5], "label map") ?? {},
      });
    } else if (f[0] === "volume" && f.length === 3) {
      out.volumes.push({ name: json<string>(f[1], "volume name"), labels: json<Record<string, string> | null>(f[2], "label map") ?? {} });
    } else if (f[0] === "dockergid" && f.length === 2) {
      if (/^[0-9]+$/.test(f[1])) out.dockerGid = Number(f[1]);
    } else {
      throw new Error(`adopt: unexpected line in the discovery: ${JSON.stringify(line.slice(0, 60))}`);
    }
  }
  return out;
}

export interface DiscoveredProject {
  name: string;
  workingDir: string;
  configFiles: string[];
  /** Service -> its container (the first, for a scaled service). One-off containers (`run`) are left out. */
  services: Record<string, DiscoveredContainer>;
}

const L = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  workingDir: "com.docker.compose.project.working_dir",
  configFiles: "com.docker.compose.project.config_files",
  oneoff: "com.docker.compose.oneoff",
  volume: "com.docker.compose.volume",
};

/** The compose projects the containers belong to, as compose labelled them. */
export function composeProjects(d: Discovery): DiscoveredProject[] {
  const byName = new Map<string, DiscoveredProject>();
  for (const c of d.containers) {
    const name = c.labels[L.project];
    if (!name || /^true$/i.test(c.labels[L.oneoff] ?? "")) continue;
    const p = byName.get(name) ?? { name, workingDir: c.labels[L.workingDir] ?? "", configFiles: (c.labels[L.configFiles] ?? "").split(",").filter(Boolean), services: {} };
    const service = c.labels[L.service];
    if (service && !(service in p.services)) p.services[service] = c;
    byName.set(name, p);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The project running the app: the one with `appService` (preferring `projectName` if several do). */
export function pickProject(projects: DiscoveredProject[], want: { appService: string; projectName?: string; host?: string }): DiscoveredProject {
  const running = projects.filter((p) => want.appService in p.services || Object.keys(p.services).some((s) => s.startsWith(`${want.appService}-`)));
  const where = want.host ? ` on ${want.host}` : "";
  if (running.length === 0) {
    const seen = projects.map((p) => `${p.name} (${Object.keys(p.services).length} services)`).join(", ") || "none";
    throw new Error(`adopt: no compose project${where} runs a ${want.appService} service; projects found: ${seen}`);
  }
  if (running.length === 1) return running[0];
  const named = running.find((p) => p.name === want.projectName);
  if (named) return named;
  throw new Error(`adopt: several compose projects${where} run ${want.appService} (${running.map((p) => p.name).join(", ")}); set wepppy-cicd:compose.projectName to the one to adopt`);
}

/**
 * The project's files: `.env`, each compose file, and every entry of secrets/ (regular files
 * read whole; symlinks and anything else reported, not followed), plus the git checkout the
 * directory is in. `sudo` reads files only root can (the stack's own 0640 root:docker ones are
 * readable by the docker group already).
 */
export const PROJECT_FILES_SCRIPT = [
  "set -u -o pipefail",
  'dir=$1; shift',
  "b64() { printf '%s' \"$1\" | base64 -w0; }",
  "emit() {",
  '  local kind=$1 f=$2 name meta',
  '  name=$(b64 "$f")',
  "  if [ -L \"$f\" ]; then printf '%s\\t%s\\tskipped\\tsymlink\\n' \"$kind\" \"$name\"; return; fi",
  "  if [ ! -e \"$f\" ]; then printf '%s\\t%s\\tmissing\\n' \"$kind\" \"$name\"; return; fi",
  "  if [ ! -f \"$f\" ]; then printf '%s\\t%s\\tskipped\\tnot a regular file\\n' \"$kind\" \"$name\"; return; fi",
  "  if [ ! -r \"$f\" ]; then printf '%s\\t%s\\tunreadable\\n' \"$kind\" \"$name\"; return; fi",
  "  meta=$(stat --printf '%a\\t%u\\t%g\\t%s' -- \"$f\") || return 1",
  // The bytes go from the file straight to stdout: never through an argument or a variable.
  "  printf '%s\\t%s\\tfile\\t%s\\t' \"$kind\" \"$name\" \"$meta\"",
  '  base64 -w0 <"$f" || return 1',
  "  printf '\\n'",
  "}",
  'emit env "$dir/.env" || exit 1',
  'for f in "$@"; do emit compose "$f" || exit 1; done',
  'if [ -d "$dir/secrets" ] && [ ! -L "$dir/secrets" ]; then',
  "  while IFS= read -r -d '' f; do emit secret \"$f\" || exit 1; done < <(find \"$dir/secrets\" -mindepth 1 -maxdepth 1 -print0 | sort -z)",
  "fi",
  'if top=$(git -C "$dir" rev-parse --show-toplevel 2>/dev/null); then',
  '  head=$(git -C "$top" rev-parse HEAD 2>/dev/null || true)',
  '  branch=$(git -C "$top" rev-parse --abbrev-ref HEAD 2>/dev/null || true)',
  '  dirty=$(git -C "$top" status --porcelain 2>/dev/null | wc -l)',
  "  printf 'checkout\\t%s\\t%s\\t%s\\t%s\\n' \"$(b64 \"$top\")\" \"$head\" \"$(b64 \"$branch\")\" \"$dirty\"",
  "fi",
  "printf 'end\\n'",
].join("\n");

export function projectFilesCommand(workingDir: string, composeFiles: string[], opts: { sudo?: boolean } = {}): string {
  for (const p of [workingDir, ...composeFiles]) {
    if (!p.startsWith("/") || /[\n\0]/.test(p)) throw new Error(`adopt: expected an absolute path, got ${JSON.stringify(p)}`);
  }
  return bashScript(PROJECT_FILES_SCRIPT, [workingDir, ...composeFiles], opts.sudo ?? false);
}

export interface HostFile {
  path: string;
  state: "file" | "missing" | "skipped" | "unreadable";
  /** Why it was skipped (symlink, not a regular file). */
  why?: string;
  mode?: string;
  uid?: number;
  gid?: number;
  /** The bytes, sealed: they may be secrets. */
  content?: Sealed<Buffer>;
}

export interface ProjectFiles {
  env: HostFile;
  compose: HostFile[];
  secrets: HostFile[];
  checkout?: { dir: string; head: string; branch: string; dirty: number };
}

function unb64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error(`adopt: the host printed ${what} that is not base64`);
  return Buffer.from(text, "base64");
}

export function parseProjectFiles(stdout: string): ProjectFiles {
  const out: ProjectFiles = { env: { path: ".env", state: "missing" }, compose: [], secrets: [] };
  for (const line of ended(stdout.split("\n"), "the file read")) {
    const f = line.split("\t");
    if (f[0] === "checkout" && f.length === 5) {
      out.checkout = { dir: unb64(f[1], "a directory").toString("utf8"), head: f[2], branch: unb64(f[3], "a branch").toString("utf8"), dirty: Number(f[4].trim()) };
      continue;
    }
    if (!["env", "compose", "secret"].includes(f[0]) || f.length < 3) throw new Error(`adopt: unexpected line in the file read (${f[0]?.slice(0, 20)})`);
    const file: HostFile = { path: unb64(f[1], "a file name").toString("utf8"), state: f[2] as HostFile["state"] };
    if (file.state === "skipped") file.why = f[3];
    else if (file.state === "file") {
      if (f.length !== 8) throw new Error(`adopt: a file line for ${file.path} has ${f.length} fields, not 8`);
      const [mode, uid, gid, size] = f.slice(3, 7);
      const bytes = unb64(f[7], `the content of ${file.path}`);
      if (bytes.length !== Number(size)) throw new Error(`adopt: ${file.path} changed while it was read (${bytes.length} bytes, stat said ${size}); run adopt again`);
      Object.assign(file, { mode: mode.padStart(4, "0"), uid: Number(uid), gid: Number(gid), content: seal(bytes) });
    } else if (file.state !== "missing" && file.state !== "unreadable") {
      throw new Error(`adopt: unknown file state in the file read`);
    }
    if (f[0] === "env") out.env = file;
    else if (f[0] === "compose") out.compose.push(file);
    else out.secrets.push(file);
  }
  return out;
}

/** Names of the docker volumes of a project: compose's name (com.docker.compose.volume) where it set one. */
function projectVolumes(d: Discovery, project: string): HostSnapshot["volumes"] {
  return d.volumes
    .filter((v) => v.labels[L.project] === project)
    .map((v) => ({ name: v.name, composeName: v.labels[L.volume] }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Everything adopt read, as one snapshot (planAdoption's input). */
export function hostSnapshot(host: string, discovery: Discovery, project: DiscoveredProject, files: ProjectFiles): HostSnapshot {
  const base = project.workingDir.replace(/\/+$/, "");
  const rel = (p: string) => (p.startsWith(base + "/") ? p.slice(base.length + 1) : p);
  const composeFiles: HostSnapshot["composeFiles"] = {};
  for (const f of files.compose) {
    if (f.state !== "file" || !f.content) throw new Error(`adopt: ${host}: the compose file ${f.path} that ${project.name} was started with is ${f.state}${f.why ? ` (${f.why})` : ""}`);
    composeFiles[rel(f.path)] = f.content.reveal().toString("utf8");
  }
  let env: HostSnapshot["env"] = { present: false, values: seal({}), problems: [] };
  if (files.env.state === "file" && files.env.content) {
    const read = readEnvText(files.env.content.reveal().toString("utf8"));
    env = { present: true, values: seal(read.values), problems: read.problems.map((p) => `${p.key} (line ${p.line}): ${p.why}`), mode: files.env.mode, uid: files.env.uid, gid: files.env.gid };
  } else if (files.env.state !== "missing") {
    env = { present: true, values: seal({}), problems: [`.env is ${files.env.state}${files.env.why ? ` (${files.env.why})` : ""}`] };
  }
  const secretFiles: HostSnapshot["secretFiles"] = {};
  const skipped: string[] = [];
  for (const f of files.secrets) {
    const name = f.path.split("/").pop()!;
    if (f.state === "file" && f.content) secretFiles[name] = { content: f.content, mode: f.mode!, uid: f.uid!, gid: f.gid! };
    else skipped.push(`secrets/${name}: ${f.state}${f.why ? ` (${f.why})` : ""}`);
  }
  const services: HostSnapshot["services"] = {};
  for (const [s, c] of Object.entries(project.services)) services[s] = { container: c.name, image: c.image, imageId: c.imageId, state: c.state };
  return {
    host,
    project: { name: project.name, workingDir: project.workingDir, configFiles: project.configFiles.map(rel) },
    checkout: files.checkout,
    services,
    volumes: projectVolumes(discovery, project.name),
    composeFiles,
    env,
    secretFiles,
    skipped,
    dockerGid: discovery.dockerGid,
  };
}
