/**
 * Adapting wepppy's real compose files (written for `docker compose` v2) to what the rig has:
 * Debian bookworm's docker-compose 1.29 (v1), hosts with 2 CPUs and a lower open-files limit, and
 * no registry to pull postgres/redis/caddy from.
 *
 * A pure function: compose YAML text (or the parsed object) in, compose YAML out, plus a record of
 * which named step changed what. Each step says why it exists; test/unit/rig-compose-transform.test.ts
 * tests each one and the whole on wepppy's files. The program itself deploys the files unchanged with
 * compose v2; this is only for rehearsing on the rig.
 *
 * YAML is read and written as YAML 1.1 (what compose v1's PyYAML reads): merge keys (`<<: *anchor`)
 * are resolved, and strings such as "yes"/"no"/"on" stay quoted in the output. Anchors are expanded
 * in the output, which compose treats the same.
 */
import { parse, stringify } from "yaml";

export interface ComposeTransformOptions {
  /** CPUs of the target host (cpuset ranges are clamped to 0..cpus-1). */
  cpus: number;
  /** Hard open-files limit of the target host's containers (nofile ulimits are clamped to it). */
  maxNofile: number;
  /**
   * Literal image names (repository without tag or digest, e.g. "redis", "postgres", "caddy",
   * "wepppy-fcgiwrap") -> the rig stand-in reference to use instead.
   */
  imageSubstitutions: Record<string, string>;
}

/** A compose document, loosely typed. */
export type ComposeDoc = Record<string, unknown> & { services?: Record<string, Record<string, unknown>> };

export interface StepContext {
  opts: ComposeTransformOptions;
  /** Set by a step that takes the project name out of the file. */
  projectName?: string;
}

export interface TransformStep {
  name: string;
  /** Why compose v1 / the rig needs it (the error it avoids). */
  why: string;
  /** Mutates doc; returns one line per change made (empty: nothing to do). */
  apply(doc: ComposeDoc, ctx: StepContext): string[];
}

export interface TransformResult {
  doc: ComposeDoc;
  yaml: string;
  /** Project name taken out of the file (pass it as `docker-compose -p`). */
  projectName?: string;
  applied: Array<{ step: string; changes: string[] }>;
}

function services(doc: ComposeDoc): Array<[string, Record<string, unknown>]> {
  const s = doc.services;
  if (!s || typeof s !== "object") return [];
  return Object.entries(s).filter((e): e is [string, Record<string, unknown>] => !!e[1] && typeof e[1] === "object");
}

/** Maps every string in a value (recursively), returning the new value. */
function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === "string") return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, f);
    return out;
  }
  return value;
}

/** Repository part of an image reference: "redis:8.2.1-alpine@sha256:..." -> "redis". */
export function imageRepository(ref: string): string {
  let r = ref.split("@")[0];
  const slash = r.lastIndexOf("/");
  const colon = r.lastIndexOf(":");
  if (colon > slash) r = r.slice(0, colon);
  return r.replace(/^(docker\.io\/)?(library\/)?/, "");
}

/** "0-39" on a 2-CPU host -> "0-1"; "0,4-7" on 4 CPUs -> "0"; all ranges off the host -> "0-(cpus-1)". */
export function clampCpuset(cpuset: string, cpus: number): string {
  const max = cpus - 1;
  const parts: string[] = [];
  for (const part of cpuset.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [a, b] = part.split("-").map((n) => Number(n));
    const lo = a;
    const hi = Number.isFinite(b) ? b : a;
    if (lo > max) continue;
    const h = Math.min(hi, max);
    parts.push(lo === h ? String(lo) : `${lo}-${h}`);
  }
  return parts.length ? parts.join(",") : max === 0 ? "0" : `0-${max}`;
}

export const steps: TransformStep[] = [
  {
    name: "project-name-out-of-file",
    why:
      "Compose v1 rejects a top-level `name:` (\"'name' does not match any of the regexes: '^x-'\"); " +
      "v1 takes the project name from -p / COMPOSE_PROJECT_NAME instead, so the step removes it and returns it.",
    apply(doc, ctx) {
      if (!("name" in doc)) return [];
      ctx.projectName = String(doc.name);
      delete doc.name;
      return [`removed top-level name: ${ctx.projectName} (use docker-compose -p ${ctx.projectName})`];
    },
  },
  {
    name: "escape-command-substitution",
    why:
      "Compose v1 fails on `$(` in any value (\"Invalid interpolation format ... $(cat /run/secrets/redis_password)\", " +
      "redis' healthcheck in the prod file); v2 passes it to the container as written. `$$(` is v1's way to " +
      "write the same literal `$(`, so the container's shell still runs the command substitution.",
    apply(doc) {
      const changes: string[] = [];
      for (const [name, svc] of services(doc)) {
        for (const key of Object.keys(svc)) {
          const before = JSON.stringify(svc[key]);
          svc[key] = mapStrings(svc[key], (s) => s.replace(/(?<!\$)((?:\$\$)*)\$\(/g, "$1$$$$("));
          if (JSON.stringify(svc[key]) !== before) changes.push(`${name}.${key}: $( -> $$(`);
        }
      }
      return changes;
    },
  },
  {
    name: "drop-build-sections",
    why:
      "There is no wepppy source on the rig (build contexts are `..` of wepppy's docker/); with `build:` " +
      "compose would try to build an image it cannot find instead of pulling the stand-in.",
    apply(doc) {
      const changes: string[] = [];
      for (const [name, svc] of services(doc)) {
        if ("build" in svc) {
          delete svc.build;
          changes.push(`${name}: build removed`);
        }
      }
      return changes;
    },
  },
  {
    name: "substitute-stand-in-images",
    why:
      "Images written literally (postgres:16, redis:latest, caddy:2-alpine, the digest-pinned redis and caddy " +
      "of the canary stack, the locally built wepppy-fcgiwrap) cannot be pulled here; they are replaced by " +
      "the rig's stand-ins in its registry. Images given by a variable (${WEPPCLOUD_IMAGE...}) are left: the " +
      "caller sets the variable, as a deployment does.",
    apply(doc, ctx) {
      const changes: string[] = [];
      for (const [name, svc] of services(doc)) {
        const image = svc.image;
        if (typeof image !== "string" || image.includes("$")) continue;
        const repo = imageRepository(image);
        const sub = ctx.opts.imageSubstitutions[repo];
        if (sub) {
          svc.image = sub;
          changes.push(`${name}: ${image} -> ${sub}`);
        }
      }
      return changes;
    },
  },
  {
    name: "clamp-cpuset",
    why:
      "The prod workers pin `cpuset: \"0-39\"` (forest1's CPUs); on a host with fewer CPUs the container " +
      "does not start (\"Requested CPUs are not available\"). Ranges are clamped to the host's CPUs.",
    apply(doc, ctx) {
      const changes: string[] = [];
      for (const [name, svc] of services(doc)) {
        if (svc.cpuset === undefined) continue;
        const before = String(svc.cpuset);
        const after = clampCpuset(before, ctx.opts.cpus);
        if (after !== before) {
          svc.cpuset = after;
          changes.push(`${name}: cpuset ${before} -> ${after}`);
        }
      }
      return changes;
    },
  },
  {
    name: "clamp-nofile-ulimits",
    why:
      "The prod services ask for nofile 1000000/65536; a container cannot raise its limit above the engine's " +
      "(the rig's hosts cannot have CAP_SYS_RESOURCE), and the container fails to start. Clamped to the host's limit.",
    apply(doc, ctx) {
      const changes: string[] = [];
      const max = ctx.opts.maxNofile;
      for (const [name, svc] of services(doc)) {
        const ul = svc.ulimits as Record<string, unknown> | undefined;
        if (!ul || ul.nofile === undefined) continue;
        const n = ul.nofile;
        if (typeof n === "number" || typeof n === "string") {
          if (Number(n) > max) {
            ul.nofile = max;
            changes.push(`${name}: nofile ${n} -> ${max}`);
          }
        } else if (n && typeof n === "object") {
          const o = n as Record<string, unknown>;
          for (const k of ["soft", "hard"]) {
            if (o[k] !== undefined && Number(o[k]) > max) {
              changes.push(`${name}: nofile.${k} ${o[k]} -> ${max}`);
              o[k] = max;
            }
          }
        }
      }
      return changes;
    },
  },
];

/** Parses compose YAML the way compose v1 (PyYAML, YAML 1.1 with merge keys) reads it. */
export function parseCompose(text: string): ComposeDoc {
  const doc = parse(text, { version: "1.1", merge: true, maxAliasCount: -1 }) as unknown;
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("compose file is not a mapping");
  return doc as ComposeDoc;
}

export function stringifyCompose(doc: ComposeDoc): string {
  return stringify(doc, { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false });
}

/** Applies every step, in order, to a copy of the input. */
export function transformCompose(input: string | ComposeDoc, opts: ComposeTransformOptions, only?: string[]): TransformResult {
  const doc = structuredClone(typeof input === "string" ? parseCompose(input) : input) as ComposeDoc;
  const ctx: StepContext = { opts };
  const applied: TransformResult["applied"] = [];
  for (const step of steps) {
    if (only && !only.includes(step.name)) continue;
    applied.push({ step: step.name, changes: step.apply(doc, ctx) });
  }
  return { doc, yaml: stringifyCompose(doc), projectName: ctx.projectName, applied };
}
