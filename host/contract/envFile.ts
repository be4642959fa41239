/*
 * `KEY=VALUE` env files: the stack renders wepppy's defaults.env with the environment's
 * values (the release's env template), and the agent adds the image variables it decides
 * on the host. One implementation for both sides.
 */

/** The template with `values` put in place of its own keys, or appended after them. */
export function renderEnvFile(template: string, values: Record<string, string>): string {
  for (const [k, v] of Object.entries(values)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`env file: bad variable name ${JSON.stringify(k)}`);
    if (/[\n\r\0]/.test(v)) throw new Error(`env file: the value of ${k} holds a line break`);
  }
  const pending = new Map(Object.entries(values));
  const lines = template.split("\n").map((line) => {
    const key = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1];
    if (key === undefined || !pending.has(key)) return line;
    const value = pending.get(key)!;
    pending.delete(key);
    return `${key}=${value}`;
  });
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const added = [...pending].map(([k, v]) => `${k}=${v}`);
  if (added.length > 0) lines.push("", "# Set by wepppy-cicd for this environment.", ...added);
  return `${lines.join("\n")}\n`;
}

/** The last value of `key` in an env file's text, or undefined. */
export function envValue(text: string, key: string): string | undefined {
  let out: string | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${key}=`)) out = line.slice(key.length + 1).replace(/\r$/, "");
  }
  return out;
}
