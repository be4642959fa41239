import { STACKS, isStackName } from "../config/environments";

/*
 * How every subcommand talks: progress on stderr (so that --json on stdout stays one
 * parseable object), results on stdout, and errors as one line with a hint, or as
 * {ok: false, error, hint} with --json. Usage errors exit 2, failures 1.
 */

/** Bad command-line input: exit status 2, one line and a hint. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function stackName(value: unknown): string {
  if (typeof value !== "string" || !value) throw new UsageError("-s/--stack is required", `one of ${STACKS.join(", ")}`);
  if (!isStackName(value)) throw new UsageError(`--stack expects one of ${STACKS.join(", ")}, got "${value}"`);
  return value;
}

export function wholeNumber(name: string, text: string | undefined, fallback: number, min = 1, max = 100000): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} expects a whole number ${min}-${max}, got "${text}"`);
  return n;
}

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

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
