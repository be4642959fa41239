import * as path from "node:path";
import { stringify } from "yaml";
import { assertMerged } from "../composeFile";
import { CADDY_CONFIG_DIR, CADDYFILE_IN_CADDY } from "../../host/contract/traffic";
import { BLUEGREEN, COLOURS, Colour } from "./constants";

/**
 * Blue/green for wepppy's compose file, as a document transformation (parsed compose in,
 * parsed compose out): the app service becomes two colour services that Caddy chooses
 * between (see caddyfile.ts), and everything that named the app is pointed at both
 * colours, or at Caddy when it must follow the live one.
 *
 * Pure: no I/O, the input is never mutated. What changed is returned in `rewrites`;
 * what an operator should look at (state both colours share, ...) in `warnings`.
 */

type Json = Record<string, unknown>;

export interface BlueGreenComposeOptions {
  /** The service that becomes two colours. Default BLUEGREEN.app.service (weppcloud). */
  appService?: string;
  /** The service running Caddy. Default BLUEGREEN.caddyService (caddy). */
  caddyService?: string;
  /**
   * The directory holding the blue/green Caddyfile (relative to the compose file), which
   * compose mounts at /etc/caddy in place of wepppy's file mount. Default ./ + BLUEGREEN.caddyDir.
   */
  caddyDir?: string;
  /** Absolute host directory holding the traffic marker; Caddy mounts it read-only at BLUEGREEN.markerDir. */
  markerHostDir: string;
  /** Absolute host directory for Caddy's access log; mounted read-write at BLUEGREEN.accessLogDir. */
  logHostDir: string;
  /** Compose variables holding each colour's image. Default BLUEGREEN.imageVariables. */
  imageVariables?: Record<Colour, string>;
}

export interface BlueGreenComposeResult {
  doc: Json;
  /** Things the operator must look at; the output is still valid compose. */
  warnings: string[];
  /** One line per value changed outside the colour services themselves. */
  rewrites: string[];
}

const CADDYFILE_TARGET = CADDYFILE_IN_CADDY;
const DEFAULT_CADDY_PORT = 8080;

function isMap(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `a:b:c` split on the colons outside `${...}` (a default value may hold a colon). */
export function splitOutsideInterpolation(spec: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < spec.length; i++) {
    if (spec.startsWith("${", i)) {
      depth++;
      i++;
    } else if (spec[i] === "}" && depth > 0) depth--;
    else if (spec[i] === ":" && depth === 0) {
      parts.push(spec.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(spec.slice(start));
  return parts;
}

interface Mount {
  /** Undefined for an anonymous volume (each container gets its own). */
  source?: string;
  target: string;
  readOnly: boolean;
  type: string;
}

/** The parts of a volume entry that matter here, from either compose syntax. */
export function parseVolume(v: unknown): Mount | undefined {
  if (typeof v === "string") {
    const parts = splitOutsideInterpolation(v);
    if (parts.length === 1) return { target: parts[0], readOnly: false, type: "volume" };
    const mode = parts[2] ?? "";
    const source = parts[0];
    const type = /^[./~$]/.test(source) ? "bind" : "volume";
    return { source, target: parts[1], readOnly: mode.split(",").includes("ro"), type };
  }
  if (isMap(v) && typeof v.target === "string") {
    return {
      source: typeof v.source === "string" ? v.source : undefined,
      target: v.target,
      readOnly: v.read_only === true || v.read_only === "true",
      type: typeof v.type === "string" ? v.type : "volume",
    };
  }
  return undefined;
}

function services(doc: Json): Json {
  if (!isMap(doc.services)) throw new Error("compose: no services");
  return doc.services;
}

/** Environment entries as [key, value] pairs, from the map or the `KEY=value` list form. */
function envEntries(env: unknown): Array<[string, unknown]> {
  if (isMap(env)) return Object.entries(env);
  if (Array.isArray(env)) {
    return env.map((e) => {
      const s = String(e);
      const eq = s.indexOf("=");
      return eq < 0 ? [s, undefined] : [s.slice(0, eq), s.slice(eq + 1)];
    });
  }
  return [];
}

/** The environment with `key` set to `value`, in the form it came in. */
function withEnv(env: unknown, key: string, value: string): unknown {
  if (Array.isArray(env)) return [...env.filter((e) => String(e).split("=")[0] !== key), `${key}=${value}`];
  return { ...(isMap(env) ? env : {}), [key]: value };
}

/** The environment with every string value passed through `f`, in the form it came in. */
function mapEnvValues(env: unknown, f: (key: string, value: string) => string): unknown {
  if (Array.isArray(env)) {
    return env.map((e) => {
      const s = String(e);
      const eq = s.indexOf("=");
      return eq < 0 ? e : `${s.slice(0, eq)}=${f(s.slice(0, eq), s.slice(eq + 1))}`;
    });
  }
  if (isMap(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === "string" ? f(k, v) : v]));
  return env;
}

/**
 * The port Caddy listens on inside its container: the container side of its first
 * published port (wepppy publishes `${CADDY_PORT:-8080}:8080`).
 */
export function caddyContainerPort(caddy: Json): number {
  for (const p of Array.isArray(caddy.ports) ? caddy.ports : []) {
    let container: string | undefined;
    if (typeof p === "string" || typeof p === "number") {
      const parts = splitOutsideInterpolation(String(p).replace(/\/(tcp|udp)$/, ""));
      container = parts[parts.length - 1];
    } else if (isMap(p) && p.target !== undefined) container = String(p.target);
    const n = Number(container?.split("-")[0]);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return DEFAULT_CADDY_PORT;
}

/** `depends_on` with the app replaced by both colours (same condition), in the form it came in. */
function splitDependsOn(deps: unknown, app: string, colours: string[]): unknown {
  if (Array.isArray(deps)) {
    if (!deps.includes(app)) return deps;
    return [...new Set(deps.flatMap((d) => (d === app ? colours : [d])))];
  }
  if (isMap(deps) && app in deps) {
    const out: Json = {};
    for (const [k, v] of Object.entries(deps)) {
      if (k !== app) out[k] = v;
      else for (const c of colours) out[c] = structuredClone(v);
    }
    return out;
  }
  return deps;
}

/**
 * References compose resolves by service name that cannot be split in two (one network
 * namespace, one container to copy volumes from...). Kept, they would name a service
 * that no longer exists.
 */
function unsplittableReferences(name: string, svc: Json, app: string): string[] {
  const found: string[] = [];
  for (const key of ["network_mode", "ipc", "pid"]) {
    if (svc[key] === `service:${app}`) found.push(`${name}.${key}: service:${app}`);
  }
  for (const key of ["links", "volumes_from"]) {
    for (const e of Array.isArray(svc[key]) ? (svc[key] as unknown[]) : []) {
      if (String(e).split(":")[0] === app) found.push(`${name}.${key}: ${String(e)}`);
    }
  }
  if (isMap(svc.extends) && svc.extends.service === app && svc.extends.file === undefined) found.push(`${name}.extends: ${app}`);
  return found;
}

/** Every string in a value, with the key path that leads to it. */
function strings(value: unknown, at: string): Array<[string, string]> {
  if (typeof value === "string") return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${at}[${i}]`));
  if (isMap(value)) return Object.entries(value).flatMap(([k, v]) => strings(v, `${at}.${k}`));
  return [];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function checkOptions(opts: BlueGreenComposeOptions, vars: Record<Colour, string>): void {
  for (const [what, dir] of [["markerHostDir", opts.markerHostDir], ["logHostDir", opts.logHostDir]] as const) {
    // Short volume syntax ends the source at the first colon; a relative path would follow the compose file.
    if (typeof dir !== "string" || !path.posix.isAbsolute(dir) || dir.includes(":")) {
      throw new Error(`blue/green compose: ${what} must be an absolute host path without ':', not '${dir}'`);
    }
  }
  for (const c of COLOURS) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(vars[c])) throw new Error(`blue/green compose: '${vars[c]}' is not a compose variable name`);
  }
  if (vars.blue === vars.green) throw new Error(`blue/green compose: both colours would take their image from ${vars.blue}`);
}

/** A colour's service: the app's definition, its own image, nothing that would make two of them collide. */
function colourService(app: Json, colour: Colour, variable: string): { svc: Json; dropped: string[] } {
  const svc = structuredClone(app);
  const dropped: string[] = [];
  // Required, so that a missing variable stops compose instead of running an unintended image.
  svc.image = `\${${variable}:?set ${variable} to the image the ${colour} colour runs (wepppy-cicd writes it to .env)}`;
  // Two colours cannot publish the same host port, and a fixed container name or hostname would
  // clash. Colours run published digests: with a build section `compose up --build` would build
  // over the colour's pinned image instead.
  for (const key of ["ports", "container_name", "hostname", "build"]) {
    if (key in svc) {
      dropped.push(key);
      delete svc[key];
    }
  }
  svc.environment = withEnv(svc.environment, BLUEGREEN.colourVariable, colour);
  return { svc, dropped };
}

/**
 * Caddy's volumes with the blue/green Caddyfile's directory in place of wepppy's Caddyfile,
 * the marker directory and the access-log directory. The directory, so that a reload reads
 * the file the agent last made current (see BLUEGREEN_CADDY_DIR).
 */
function caddyVolumes(caddy: Json, caddyName: string, opts: Required<Pick<BlueGreenComposeOptions, "caddyDir" | "markerHostDir" | "logHostDir">>): { volumes: unknown[]; rewrites: string[] } {
  const volumes = Array.isArray(caddy.volumes) ? [...caddy.volumes] : [];
  const rewrites: string[] = [];
  const at = volumes.findIndex((v) => parseVolume(v)?.target === CADDYFILE_TARGET);
  if (at < 0) throw new Error(`blue/green compose: service ${caddyName} mounts nothing at ${CADDYFILE_TARGET}; cannot give it the blue/green Caddyfile`);
  const inside = volumes.find((v, i) => {
    const t = parseVolume(v)?.target;
    return i !== at && t !== undefined && (t === CADDY_CONFIG_DIR || t.startsWith(`${CADDY_CONFIG_DIR}/`));
  });
  if (inside !== undefined) {
    throw new Error(`blue/green compose: service ${caddyName} mounts ${parseVolume(inside)?.target} as well; the blue/green Caddyfile's directory is mounted at ${CADDY_CONFIG_DIR}, so nothing else may be mounted in it`);
  }
  const old = volumes[at];
  if (typeof old === "string") {
    const parts = splitOutsideInterpolation(old);
    volumes[at] = [opts.caddyDir, CADDY_CONFIG_DIR, ...parts.slice(2)].join(":");
  } else {
    volumes[at] = { ...(old as Json), source: opts.caddyDir, target: CADDY_CONFIG_DIR };
  }
  rewrites.push(`${caddyName}.volumes: ${typeof old === "string" ? old : JSON.stringify(old)} -> ${typeof volumes[at] === "string" ? volumes[at] : JSON.stringify(volumes[at])}`);
  for (const [dir, target, mode] of [
    [opts.markerHostDir, BLUEGREEN.markerDir, ":ro"],
    [opts.logHostDir, BLUEGREEN.accessLogDir, ""],
  ] as const) {
    if (volumes.some((v) => parseVolume(v)?.target === target)) {
      throw new Error(`blue/green compose: service ${caddyName} already mounts something at ${target}`);
    }
    const spec = `${dir}:${target}${mode}`;
    volumes.push(spec);
    rewrites.push(`${caddyName}.volumes: + ${spec}`);
  }
  return { volumes, rewrites };
}

/**
 * Read-write mounts the two colours now share. Shared with other services already, they
 * were built for concurrent writers; written by the app alone, the colours (which may run
 * different releases) now overwrite each other's files.
 */
function sharedWriteWarnings(all: Json, app: Json, appName: string): string[] {
  const warnings: string[] = [];
  const env = envEntries(app.environment).filter((e): e is [string, string] => typeof e[1] === "string");
  for (const v of Array.isArray(app.volumes) ? app.volumes : []) {
    const m = parseVolume(v);
    if (!m || m.readOnly || m.source === undefined || m.type === "tmpfs") continue;
    const writes = (o: unknown) => {
      const om = parseVolume(o);
      return om !== undefined && om.source === m.source && !om.readOnly;
    };
    const writers = Object.entries(all)
      .filter(([name, s]) => name !== appName && isMap(s) && Array.isArray(s.volumes) && s.volumes.some(writes))
      .map(([name]) => name);
    const vars = env.filter(([, val]) => val === m.target || val.startsWith(m.target + "/")).map(([k]) => k);
    const mount = `${m.source}:${m.target}`;
    const how = vars.length > 0 ? ` (${vars.join(", ")} ${vars.length === 1 ? "points" : "point"} into it)` : "";
    if (writers.length > 0) {
      const some = writers.length > 4 ? `${writers.slice(0, 4).join(", ")} and ${writers.length - 4} more` : writers.join(", ");
      warnings.push(`both colours mount ${mount} read-write${how}; already shared read-write with ${some}`);
    } else {
      warnings.push(`both colours mount ${mount} read-write${how}; only ${appName} wrote it until now, so the colour that starts last (possibly another release) overwrites what the other wrote`);
    }
  }
  return warnings;
}

/**
 * Turn wepppy's compose document into its blue/green form. Throws when the app or Caddy
 * service is missing, the colour services already exist, Caddy mounts no Caddyfile, or a
 * service is tied to the app in a way two colours cannot share.
 */
export function blueGreenCompose(input: Json, opts: BlueGreenComposeOptions): BlueGreenComposeResult {
  const appName = opts.appService ?? BLUEGREEN.app.service;
  const caddyName = opts.caddyService ?? BLUEGREEN.caddyService;
  const vars = opts.imageVariables ?? BLUEGREEN.imageVariables;
  const caddyDir = opts.caddyDir ?? `./${BLUEGREEN.caddyDir}`;
  checkOptions(opts, vars);

  // Merge keys are the reader's job (readComposeDocument applies them as compose does); the copy
  // keeps the input unchanged.
  assertMerged(input, "blue/green compose");
  const doc = structuredClone(input);
  const svcs = services(doc);
  const colourNames: string[] = COLOURS.map((c) => BLUEGREEN.services[c]);
  const taken = colourNames.filter((n) => n in svcs);
  if (taken.length > 0) throw new Error(`blue/green compose: service(s) ${taken.join(", ")} already exist; is this file already blue/green?`);
  if (!isMap(svcs[appName])) throw new Error(`blue/green compose: no service '${appName}' to split into colours`);
  if (!isMap(svcs[caddyName])) throw new Error(`blue/green compose: no service '${caddyName}'; the colours are reached only through Caddy`);
  if (caddyName === appName) throw new Error(`blue/green compose: the app and Caddy cannot be the same service (${appName})`);
  const tied = Object.entries(svcs).flatMap(([name, s]) => (isMap(s) && name !== appName ? unsplittableReferences(name, s, appName) : []));
  if (tied.length > 0) throw new Error(`blue/green compose: tied to ${appName}, cannot follow two colours: ${tied.join("; ")}`);

  const warnings: string[] = [];
  const rewrites: string[] = [];
  const caddyPort = caddyContainerPort(svcs[caddyName] as Json);
  const appAddress = `${appName}:${BLUEGREEN.app.port}`;
  const throughCaddy = `${caddyName}:${caddyPort}`;
  // Host:port only, so that weppcloud:80001 or my-weppcloud:8000 are left alone.
  const addressRe = new RegExp(`(?<![A-Za-z0-9_.-])${escapeRegExp(appAddress)}(?![0-9])`);

  // Services that call the app must follow the live colour, which only Caddy knows.
  for (const [name, s] of Object.entries(svcs)) {
    if (!isMap(s) || s.environment === undefined) continue;
    s.environment = mapEnvValues(s.environment, (key, value) => {
      if (!addressRe.test(value)) return value;
      const after = value.replace(new RegExp(addressRe.source, "g"), throughCaddy);
      rewrites.push(`${name}.environment.${key}: ${value} -> ${after}`);
      // A compose default only applies while the variable is unset; a value from .env keeps its target.
      const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*):?-/.exec(value);
      if (m) warnings.push(`${name}: ${key} now defaults to ${throughCaddy}, but a ${m[1]} set in the project's .env still wins; it must not name ${appAddress}`);
      return after;
    });
  }

  const app = svcs[appName] as Json;
  warnings.push(...sharedWriteWarnings(svcs, app, appName));
  if (Array.isArray(app.ports) && app.ports.length > 0) {
    warnings.push(`${appName} published ${app.ports.map(String).join(", ")} on the host; the colours publish nothing, so whatever used that host port (monitoring, scripts) must go through ${caddyName} or docker exec`);
  }

  const out: Json = {};
  for (const [name, s] of Object.entries(svcs)) {
    if (name !== appName) {
      out[name] = s;
      continue;
    }
    for (const c of COLOURS) {
      const { svc, dropped } = colourService(app, c, vars[c]);
      out[BLUEGREEN.services[c]] = svc;
      if (c === COLOURS[0] && dropped.length > 0) rewrites.push(`${appName} -> ${colourNames.join(", ")}: without ${dropped.join(", ")}`);
    }
  }

  const dependents: string[] = [];
  for (const [name, s] of Object.entries(out)) {
    if (!isMap(s) || s.depends_on === undefined) continue;
    const after = splitDependsOn(s.depends_on, appName, colourNames);
    if (after !== s.depends_on) {
      s.depends_on = after;
      rewrites.push(`${name}.depends_on: ${appName} -> ${colourNames.join(", ")}`);
      if (name !== caddyName) dependents.push(name);
    }
  }
  if (dependents.length > 0) {
    const who = dependents.length === 1 ? `${dependents[0]} depends` : `${dependents.join(", ")} depend`;
    warnings.push(`${who} on both colours: starting it without --no-deps starts the idle colour too`);
  }

  const caddy = out[caddyName] as Json;
  const { volumes, rewrites: caddyRewrites } = caddyVolumes(caddy, caddyName, { caddyDir, markerHostDir: opts.markerHostDir, logHostDir: opts.logHostDir });
  caddy.volumes = volumes;
  rewrites.push(...caddyRewrites);

  // Anything else still naming the app would reach a service that no longer exists.
  const leftRe = new RegExp(`(?:^|//|[\\s=@"'])${escapeRegExp(appName)}(?::[0-9]+)?(?=$|[/?#\\s"':])`);
  for (const [name, s] of Object.entries(out)) {
    if (colourNames.includes(name)) continue;
    for (const [at, value] of strings(s, name)) {
      if (leftRe.test(value)) warnings.push(`${at} still names ${appName}, which no longer exists: ${value}`);
    }
  }

  doc.services = out;
  return { doc, warnings, rewrites };
}

/** Compose YAML for a document: no anchors, no folded lines, and YAML 1.1 quoting so "yes"/"on" stay strings for compose v1 too. */
export function composeYaml(doc: Json): string {
  return stringify(doc, { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false });
}

/** blueGreenCompose's document as YAML text (its warnings and rewrites are dropped: call blueGreenCompose for them). */
export function blueGreenComposeYaml(input: Json, opts: BlueGreenComposeOptions): string {
  return composeYaml(blueGreenCompose(input, opts).doc);
}
