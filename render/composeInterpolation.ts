/*
 * Compose's variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`), read
 * the way compose reads it, so the program can say which variables a compose file needs and
 * resolve the ones it copies files by. Pure.
 *
 * A `$` followed by anything else (`$(`, `$1`, a trailing `$`) is left as written: compose v2
 * passes it through (wepppy's redis healthcheck relies on that); compose v1 refuses it, which
 * is why the rig adapts such files (rig/composeTransform.ts, escape-command-substitution).
 */

export type InterpolationForm =
  /** `$VAR` or `${VAR}`: unset is an empty string and a warning. */
  | "plain"
  /** `${VAR:-x}` / `${VAR-x}`: unset (or, with the colon, empty) takes the default. */
  | "default"
  /** `${VAR:?msg}` / `${VAR?msg}`: unset (or empty) stops compose with msg. */
  | "required"
  /** `${VAR:+x}` / `${VAR+x}`: x when set, else empty. */
  | "alternate";

export interface Interpolation {
  variable: string;
  form: InterpolationForm;
  /** The default, alternative or error message, as written (it may interpolate further). */
  argument?: string;
  /** With a colon (`:-`, `:?`, `:+`), an empty value counts as unset. */
  colon: boolean;
  /** The text as written, e.g. `${CAP_SITE_KEY}`. */
  text: string;
  /**
   * Outer variables this use depends on: inside `${A:-${B}}`, B is only read when A is
   * unset ({variable: A, when: "unset"}); inside `${A:+${B}}`, only when A is set.
   */
  guards: Array<{ variable: string; when: "set" | "unset" }>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** The index of the `}` closing the `${` that starts at `open`, or -1. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "$") {
      i++;
      continue;
    }
    if (text[i] === "$" && text[i + 1] === "{") {
      depth++;
      i++;
      continue;
    }
    if (text[i] === "}") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Every interpolation in a string, nested ones included (with their guards). Throws on a malformed `${...}`. */
export function interpolations(text: string, guards: Interpolation["guards"] = []): Interpolation[] {
  const out: Interpolation[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "$") continue;
    const next = text[i + 1];
    if (next === "$") {
      i++;
      continue;
    }
    if (next === "{") {
      const end = closingBrace(text, i);
      if (end < 0) throw new Error(`unterminated \${ in ${JSON.stringify(text)}`);
      const body = text.slice(i + 2, end);
      const name = NAME.exec(body)?.[0];
      if (!name) throw new Error(`invalid interpolation ${text.slice(i, end + 1)}: expected a variable name after \${`);
      const rest = body.slice(name.length);
      const full = text.slice(i, end + 1);
      const m = /^(:?)([-?+])([\s\S]*)$/.exec(rest);
      if (rest === "") {
        out.push({ variable: name, form: "plain", colon: false, text: full, guards });
      } else if (m) {
        const form: InterpolationForm = m[2] === "-" ? "default" : m[2] === "?" ? "required" : "alternate";
        out.push({ variable: name, form, argument: m[3], colon: m[1] === ":", text: full, guards });
        if (form !== "required") {
          const when = form === "default" ? "unset" : "set";
          out.push(...interpolations(m[3], [...guards, { variable: name, when }]));
        }
      } else {
        throw new Error(`invalid interpolation ${full}: expected \${${name}}, \${${name}:-default}, \${${name}:?error} or \${${name}:+alternative}`);
      }
      i = end;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0];
    if (name) {
      out.push({ variable: name, form: "plain", colon: false, text: `$${name}`, guards });
      i += name.length;
    }
  }
  return out;
}

/**
 * The string compose would make of `text` with these variables, or undefined when it
 * depends on a variable that is not given (a plain use of one) or stops compose (a required
 * one that is missing). `$$` becomes `$`.
 */
export function interpolate(text: string, env: Record<string, string>): string | undefined {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "$") {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i++;
      continue;
    }
    if (next === "{") {
      const end = closingBrace(text, i);
      if (end < 0) return undefined;
      const body = text.slice(i + 2, end);
      const name = NAME.exec(body)?.[0];
      if (!name) return undefined;
      const rest = body.slice(name.length);
      const value = env[name];
      const m = /^(:?)([-?+])([\s\S]*)$/.exec(rest);
      const unset = (colon: boolean) => value === undefined || (colon && value === "");
      let piece: string | undefined;
      if (rest === "") piece = value;
      else if (!m) return undefined;
      else if (m[2] === "-") piece = unset(m[1] === ":") ? interpolate(m[3], env) : value;
      else if (m[2] === "?") piece = unset(m[1] === ":") ? undefined : value;
      else piece = unset(m[1] === ":") ? "" : interpolate(m[3], env);
      if (piece === undefined) return undefined;
      out += piece;
      i = end;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0];
    if (name) {
      if (env[name] === undefined) return undefined;
      out += env[name];
      i += name.length;
      continue;
    }
    out += c;
  }
  return out;
}

/** Every string in a value, with the key path that leads to it (map keys are not interpolated by compose). */
export function stringsIn(value: unknown, at: string): Array<[string, string]> {
  if (typeof value === "string") return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringsIn(v, `${at}[${i}]`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => stringsIn(v, `${at}.${k}`));
  return [];
}
