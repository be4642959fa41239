import { UsageError } from "./command";

/** `--set section.key=value` pairs; values are parsed as JSON where they can be (numbers, booleans, lists). */
export function parseSets(pairs: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs ?? []) {
    const i = pair.indexOf("=");
    if (i <= 0) throw new UsageError(`--set expects section.key=value, got "${pair}"`);
    const text = pair.slice(i + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // a plain string
    }
    out[pair.slice(0, i)] = value;
  }
  return out;
}
