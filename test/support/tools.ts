import { spawnSync } from "node:child_process";

/**
 * What a test needs from the machine (a tool, root, a running engine). The README's set-up
 * command installs every tool, so a missing one is a broken set-up: under CI (CI=true) the
 * test fails, naming what is missing and how to get it; elsewhere it is skipped, with a line
 * saying what was skipped and why (a developer may run one file without the full set-up).
 */

/** The README's set-up command (a unit test checks that the quick start starts with it). */
export const SETUP_COMMAND = "npm run setup";

export function inCI(): boolean {
  return process.env.CI === "true" || process.env.CI === "1";
}

const probed = new Map<string, boolean>();

/**
 * True when `argv` runs and exits 0 (the default probe: `<tool> --version`). Asked once per
 * process: some probes cost half a second of CPU (docker-compose v1 starts Python).
 */
export function runs(argv: string[]): boolean {
  const key = JSON.stringify(argv);
  if (!probed.has(key)) probed.set(key, spawnSync(argv[0], argv.slice(1), { stdio: "ignore" }).status === 0);
  return probed.get(key)!;
}

/**
 * The test (in an `it`) or the whole describe (in a `before`) needs `tool`, present when
 * `probe` runs (default `<tool> --version`). Missing: fails under CI, else skips visibly.
 */
export function requireTool(ctx: Mocha.Context, tool: string, probe: string[] = [tool, "--version"]): void {
  if (!runs(probe)) unmet(ctx, `${tool} is not installed`, `${SETUP_COMMAND} installs it`);
}

/** The same rule for what is not a tool: `holds` false fails under CI, else skips; `how` says how to meet it. */
export function requireCondition(ctx: Mocha.Context, holds: boolean, what: string, how: string): void {
  if (!holds) unmet(ctx, what, how);
}

function unmet(ctx: Mocha.Context, what: string, how: string): void {
  if (inCI()) throw new Error(`${what}; ${how} (CI=true: a test whose prerequisite is missing fails, it is not skipped)`);
  const runnable = ctx.test; // the hook (mocha's type "hook") or the test asking
  const inHook = (runnable as { type?: string } | undefined)?.type === "hook";
  const skipped = inHook ? `every test of "${runnable?.parent?.fullTitle()}"` : `"${runnable?.fullTitle()}"`;
  process.stderr.write(`      SKIPPED ${skipped}: ${what}; ${how}\n`);
  ctx.skip();
}
