/*
 * Reading a compose project's .env (and wepppy's defaults.env) for the values compose takes
 * from it, as compose v2 reads such a file: `KEY=value` lines, `#` comments, an optional
 * `export `, single quotes literal, double quotes with \n \t \\ \" escapes, an unquoted value
 * trimmed and cut at ` #`. A value compose would interpolate (`$` outside single quotes) or
 * one spread over several lines is not guessed at: it is reported, by key only.
 *
 * Pure. Values may be secrets (older layouts keep them in .env): problems name keys, never values.
 */

export interface EnvFileRead {
  values: Record<string, string>;
  /** Keys whose value could not be read exactly, and why (no values). */
  problems: Array<{ key: string; line: number; why: string }>;
}

const KEY = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*/;

function doubleQuoted(body: string): string {
  return body.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c === "r" ? "\r" : c));
}

export function readEnvText(text: string): EnvFileRead {
  const values: Record<string, string> = {};
  const problems: EnvFileRead["problems"] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^[ \t]+/, "");
    if (line === "" || line.startsWith("#")) return;
    const m = KEY.exec(line);
    if (!m) {
      problems.push({ key: line.split(/[=\s]/)[0].slice(0, 40) || "(blank)", line: i + 1, why: "not a KEY=value line" });
      return;
    }
    const key = m[1];
    const rest = line.slice(m[0].length);
    if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1);
      if (end < 0) problems.push({ key, line: i + 1, why: "a single-quoted value that does not end on its line" });
      else values[key] = rest.slice(1, end);
      return;
    }
    if (rest.startsWith('"')) {
      const m2 = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
      if (!m2) problems.push({ key, line: i + 1, why: "a double-quoted value that does not end on its line" });
      else if (/(?<!\\)\$/.test(m2[1])) problems.push({ key, line: i + 1, why: "a double-quoted value with '$', which compose interpolates" });
      else values[key] = doubleQuoted(m2[1]);
      return;
    }
    const value = rest.replace(/[ \t]+#.*$/, "").replace(/[ \t]+$/, "");
    if (value.includes("$")) problems.push({ key, line: i + 1, why: "an unquoted value with '$', which compose interpolates" });
    else values[key] = value;
  });
  return { values, problems };
}
