import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { interpolate } from "./composeInterpolation";

/*
 * The one reader of wepppy's compose files that everything shares (secret names, the files
 * copied beside the compose file, the restore stop-list, the blue/green transformation, the
 * compose layout), so that a secret or service added in wepppy is picked up on the next
 * deploy, and so that all of them see the file as compose does: YAML merge keys
 * (`<<: *wepppy-service`) applied. test/unit/composeFile.test.ts checks the result against
 * `docker-compose config` on wepppy's real files.
 */

type Json = Record<string, unknown>;

export interface ComposeSecret {
  name: string;
  /** The path compose reads, as written (relative to the compose file's directory). */
  file: string;
}

/** A service's secret entry, in long form whichever form the file used. */
export interface ServiceSecret {
  source: string;
  target?: string;
}

/** Where each parsed document came from, so errors can name the file. */
const SOURCES = new WeakMap<object, string>();

/** The file a document was read from (readComposeDocument / parseComposeText), or a stand-in. */
export function composeSource(doc: object): string {
  return SOURCES.get(doc) ?? "compose file";
}

function isMap(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A copy with every map and list new: aliases parse to shared objects, and a shared object edited in one service would change others. */
function tree(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(tree);
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tree(v)]));
  return value;
}

/** Where a `<<` key is left in a document (one parsed without merge keys), or undefined. */
export function unmergedKeyAt(value: unknown, at = ""): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unmergedKeyAt(value[i], `${at}[${i}]`);
      if (found) return found;
    }
  } else if (isMap(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "<<") return at || ".";
      const found = unmergedKeyAt(v, at ? `${at}.${k}` : k);
      if (found) return found;
    }
  }
  return undefined;
}

/** Refuses a document whose merge keys were not applied: every part of the program reads merged compose. */
export function assertMerged(doc: Json, who: string): void {
  const at = unmergedKeyAt(doc);
  if (at !== undefined) {
    throw new Error(`${who}: ${composeSource(doc)} has an unapplied merge key (<<) at ${at}; read compose files with readComposeDocument, which applies them as compose does`);
  }
}

/**
 * Compose YAML as compose reads it: YAML 1.2 (compose v2's parser; `yes` stays a string)
 * with merge keys applied, duplicate keys refused, and a bound on alias expansion.
 * `file` names the source in errors.
 */
export function parseComposeText(text: string, file: string): Json {
  const parsed = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: false });
  const problems = [...parsed.errors, ...parsed.warnings];
  if (problems.length > 0) throw new Error(`${file}: not valid compose YAML: ${problems.map((p) => p.message.split("\n")[0]).join("; ")}`);
  let js: unknown;
  try {
    js = parsed.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new Error(`${file}: not valid compose YAML: ${(err as Error).message}`);
  }
  if (!isMap(js)) throw new Error(`${file}: not a compose file (expected a mapping at the top)`);
  const doc = tree(js) as Json;
  if (doc.services !== undefined && !isMap(doc.services)) throw new Error(`${file}: services must be a mapping`);
  for (const [name, svc] of Object.entries((doc.services ?? {}) as Json)) {
    if (!isMap(svc)) throw new Error(`${file}: service ${name} must be a mapping`);
  }
  SOURCES.set(doc, file);
  // A merged document has no `<<` left; one that remains was a key compose would refuse too.
  assertMerged(doc, file);
  relativeMounts(doc);
  return doc;
}

/**
 * Reads a compose file as compose does (see parseComposeText), and refuses a file it mounts
 * from beside itself that is a symlink leading out of the compose file's directory: such a
 * file is copied to the host, so it must not be a way to reach the rest of this machine.
 */
export function readComposeDocument(file: string): Json {
  const doc = parseComposeText(fs.readFileSync(file, "utf8"), file);
  const dir = fs.realpathSync(path.dirname(file));
  for (const { service, file: rel } of relativeMountsBy(doc)) {
    const local = path.join(path.dirname(file), rel);
    if (!fs.existsSync(local)) continue;
    const real = fs.realpathSync(local);
    if (real !== dir && !real.startsWith(dir + path.sep)) {
      throw new Error(`${file}: service ${service} mounts ./${rel}, which resolves (through a symlink) to ${real}, outside ${dir}; only files beside the compose file are copied to the host`);
    }
  }
  return doc;
}

/** The services section (empty when there is none). */
export function composeServices(doc: Json): Record<string, Json> {
  return (isMap(doc.services) ? doc.services : {}) as Record<string, Json>;
}

/** Compose file secrets kept in the deployment's secrets/ directory (others, like /dev/null, are not ours). */
export function secretsInDirectory(doc: Json, dir = "./secrets/"): ComposeSecret[] {
  const secrets = (isMap(doc.secrets) ? doc.secrets : {}) as Record<string, { file?: unknown }>;
  return Object.entries(secrets)
    .filter(([, spec]) => typeof spec?.file === "string" && spec.file.startsWith(dir))
    .map(([name, spec]) => ({ name, file: spec.file as string }));
}

export function serviceNames(doc: Json): string[] {
  return Object.keys(composeServices(doc));
}

/** Each service's secrets in long form, in the file's order. */
export function serviceSecrets(doc: Json): Record<string, ServiceSecret[]> {
  const out: Record<string, ServiceSecret[]> = {};
  for (const [name, svc] of Object.entries(composeServices(doc))) {
    const list = Array.isArray(svc.secrets) ? svc.secrets : [];
    out[name] = list.map((s) => {
      if (typeof s === "string") return { source: s };
      if (isMap(s) && typeof s.source === "string") return typeof s.target === "string" ? { source: s.source, target: s.target } : { source: s.source };
      throw new Error(`${composeSource(doc)}: service ${name}: a secrets entry must be a name or have a source`);
    });
  }
  return out;
}

/** Services that mount a given compose secret, e.g. those that talk to Postgres. */
export function servicesWithSecret(doc: Json, secret: string): string[] {
  return Object.entries(serviceSecrets(doc))
    .filter(([, secrets]) => secrets.some((s) => s.source === secret))
    .map(([name]) => name);
}

/** `${VAR:-default}` / `${VAR-default}` → default; a plain `${VAR}` has no default. */
export function interpolationDefault(text: string): string | undefined {
  return interpolate(text, {});
}

type Volume = string | { type?: string; source?: string };

/** The source of a short-syntax volume: up to the first ':' outside a `${...}`. */
export function volumeSource(spec: string): string {
  let depth = 0;
  for (let i = 0; i < spec.length; i++) {
    if (spec.startsWith("${", i)) depth++;
    else if (spec[i] === "}" && depth > 0) depth--;
    else if (spec[i] === ":" && depth === 0) return spec.slice(0, i);
  }
  return spec;
}

/**
 * Every file a service bind-mounts from beside the compose file (`./...`), with the service.
 * A source is read with `env` (the values the env file will hold) and the file's defaults;
 * one that depends on an unknown variable is not beside the file as far as anyone can tell.
 * A `./` source that leaves the compose directory (`./../..`) is refused: these files are
 * copied to the host under the same relative path.
 */
export function relativeMountsBy(doc: Json, env: Record<string, string> = {}): Array<{ service: string; file: string }> {
  const out: Array<{ service: string; file: string }> = [];
  for (const [service, svc] of Object.entries(composeServices(doc))) {
    for (const volume of (Array.isArray(svc.volumes) ? svc.volumes : []) as Volume[]) {
      const raw = typeof volume === "string" ? volumeSource(volume) : volume?.type === "bind" ? volume.source : undefined;
      const source = typeof raw === "string" ? interpolate(raw, env) : undefined;
      if (!source?.startsWith("./")) continue;
      const rel = source.slice(2);
      if (rel.split("/").includes("..")) {
        throw new Error(`${composeSource(doc)}: service ${service} bind-mounts ${source}, which leaves the compose file's directory (a '..' segment); files mounted with ./ are copied to the host, so they must stay beside the compose file`);
      }
      const normal = path.posix.normalize(rel).replace(/\/+$/, "");
      if (normal === "." || normal === "") continue;
      out.push({ service, file: normal });
    }
  }
  return out;
}

/**
 * Files and directories the compose files bind-mount from beside themselves (`./...`):
 * they must be on the host next to the compose files (Caddyfile, entrypoint scripts).
 * One parameter, so that it can be passed to map/flatMap; relativeMountsBy takes env values.
 */
export function relativeMounts(doc: Json): string[] {
  return [...new Set(relativeMountsBy(doc).map((m) => m.file))].sort();
}
