/** What every subcommand of `wepppy-cicd` provides. */
export interface Subcommand {
  name: string;
  /** One line for `wepppy-cicd --help`. */
  summary: string;
  /** Full usage text for `wepppy-cicd <name> --help`. */
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Raised for bad command-line input: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

/** Progress goes to stderr so that `--json` output on stdout stays parseable. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
