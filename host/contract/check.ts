/*
 * Hand-written validation for the documents the host reads (deploy.json, a deploy request):
 * the contract has no runtime dependencies, so that the agent's bundle is only this
 * project's code. Every problem names its key path and what was expected; all problems
 * of a document are reported at once, one per line.
 */

export class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path || "(document)"}: ${message}`);
  }
}

/** Reads one value; reports and returns undefined when it does not fit. */
export type Reader<T> = (value: unknown, path: string, problems: Problems) => T | undefined;

export class DocumentError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(problems.map((p) => `${source}: ${p}`).join("\n"));
    this.name = "DocumentError";
  }
}

/** How a value is shown in an error: short, one line, never more than a few dozen characters. */
export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function text(pattern: RegExp, expected: string): Reader<string> {
  return (v, path, p) => {
    if (typeof v === "string" && pattern.test(v)) return v;
    p.add(path, `expected ${expected}, got ${shown(v)}`);
    return undefined;
  };
}

export function integer(min: number, max: number): Reader<number> {
  return (v, path, p) => {
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    p.add(path, `expected a whole number ${min}-${max}, got ${shown(v)}`);
    return undefined;
  };
}

export const boolean: Reader<boolean> = (v, path, p) => {
  if (typeof v === "boolean") return v;
  p.add(path, `expected true or false, got ${shown(v)}`);
  return undefined;
};

export function oneOf<const T extends string>(values: readonly T[]): Reader<T> {
  return (v, path, p) => {
    if (typeof v === "string" && (values as readonly string[]).includes(v)) return v as T;
    p.add(path, `expected one of ${values.map((x) => `"${x}"`).join(", ")}, got ${shown(v)}`);
    return undefined;
  };
}

export function literal<const T extends string | number>(value: T): Reader<T> {
  return (v, path, p) => {
    if (v === value) return value;
    p.add(path, `expected ${JSON.stringify(value)}, got ${shown(v)}`);
    return undefined;
  };
}

export function nullable<T>(read: Reader<T>): Reader<T | null> {
  return (v, path, p) => (v === null ? null : read(v, path, p));
}

export function list<T>(item: Reader<T>, opts: { max?: number; min?: number; unique?: boolean } = {}): Reader<T[]> {
  return (v, path, p) => {
    if (!Array.isArray(v)) {
      p.add(path, `expected a list, got ${shown(v)}`);
      return undefined;
    }
    if (opts.min !== undefined && v.length < opts.min) p.add(path, `expected at least ${opts.min} item(s)`);
    if (opts.max !== undefined && v.length > opts.max) p.add(path, `expected at most ${opts.max} item(s)`);
    const out = v.map((x, i) => item(x, `${path}[${i}]`, p));
    if (opts.unique && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) p.add(path, "expected no repeats");
    return out.every((x) => x !== undefined) ? (out as T[]) : undefined;
  };
}

export function record<T>(key: RegExp, keyExpected: string, value: Reader<T>): Reader<Record<string, T>> {
  return (v, path, p) => {
    if (!isPlainObject(v)) {
      p.add(path, `expected a map, got ${shown(v)}`);
      return undefined;
    }
    const out: Record<string, T> = {};
    let ok = true;
    for (const [k, x] of Object.entries(v)) {
      if (!key.test(k)) {
        p.add(`${path}.${k}`, `expected the key to be ${keyExpected}`);
        ok = false;
        continue;
      }
      const read = value(x, `${path}.${k}`, p);
      if (read === undefined) ok = false;
      else out[k] = read;
    }
    return ok ? out : undefined;
  };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A field of an object: how to read it, and the value taken when the key is absent. */
export interface Field<T> {
  read: Reader<T>;
  /** Absent key: this value. No default: the key is required. */
  default?: T;
  hasDefault: boolean;
}

export function required<T>(read: Reader<T>): Field<T> {
  return { read, hasDefault: false };
}

export function optional<T>(read: Reader<T>, fallback: T): Field<T> {
  return { read, default: fallback, hasDefault: true };
}

export type Spec<T> = { [K in keyof T]-?: Field<T[K]> };

/** A strict object: every key of the spec (or its default), and no other key (a typo is an error, not a silent default). */
export function object<T>(spec: Spec<T>): Reader<T> {
  return (v, path, p) => {
    if (!isPlainObject(v)) {
      p.add(path, `expected an object, got ${shown(v)}`);
      return undefined;
    }
    const at = (k: string) => (path ? `${path}.${k}` : k);
    let ok = true;
    const out: Record<string, unknown> = {};
    for (const [k, field] of Object.entries(spec) as Array<[string, Field<unknown>]>) {
      if (!(k in v) || v[k] === undefined) {
        if (field.hasDefault) out[k] = structuredCopy(field.default);
        else {
          p.add(at(k), "required, missing");
          ok = false;
        }
        continue;
      }
      const read = field.read(v[k], at(k), p);
      if (read === undefined) ok = false;
      else out[k] = read;
    }
    for (const k of Object.keys(v)) {
      if (!(k in spec)) {
        p.add(at(k), "unknown key");
        ok = false;
      }
    }
    return ok ? (out as T) : undefined;
  };
}

function structuredCopy<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Reads a whole document or throws a DocumentError listing every problem. */
export function readDocument<T>(read: Reader<T>, value: unknown, source: string, crossChecks?: (doc: T, problems: Problems) => void): T {
  const problems = new Problems();
  const out = read(value, "", problems);
  if (out !== undefined && crossChecks) crossChecks(out, problems);
  if (out === undefined || problems.list.length > 0) throw new DocumentError(source, problems.list.length ? problems.list : ["unreadable"]);
  return out;
}

/** JSON text to a value, with the source named when it is not JSON. */
export function parseJsonText(textValue: string, source: string): unknown {
  try {
    return JSON.parse(textValue);
  } catch (err) {
    throw new DocumentError(source, [`not JSON (${(err as Error).message})`]);
  }
}

// Character classes shared by every document: a value that reaches a compose or docker
// argv (never a shell) still holds only characters a shell leaves alone, as in config/fields.ts.
export const ABSOLUTE_PATH = /^\/(?:(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+\/?)*$/;
export const RELATIVE_PATH = /^(?!\/)(?:(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+\/?)+$/;
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
export const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const URL_PATH = /^\/[A-Za-z0-9._~\/-]*$/;
export const HTTP_URL = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~\/-]*)?$/;
export const ARGV_WORD = /^[A-Za-z0-9._\/:=@+,-]{1,200}$/;
export const PROSE = /^[^\x00-\x1f`$\\"']{1,200}$/;
export const IMAGE_REF = /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
export const DIGEST_REF = /@sha256:[0-9a-f]{64}$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;
export const ENV_SLUG = /^[a-z][a-z0-9-]{0,31}$/;
// RFC 1123 labels, the whole name at most 253 characters (config/fields.ts's rule).
export const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
