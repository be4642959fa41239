import { Command, CommanderError } from "commander";
import { registerAdopt } from "./adopt";
import { registerAudit } from "./audit";
import { registerBench } from "./bench";
import { registerConfig } from "./config";
import { UsageError, printJson } from "./io";
import { registerPolicy } from "./policy";
import { registerPromote } from "./promote";
import { registerRehearse } from "./rehearse";
import { registerRelease } from "./release";
import { registerRig } from "./rig";
import { registerRollback } from "./rollback";
import { registerStatus } from "./status";
import { registerCancel } from "./cancel";
import { registerRecordRelease } from "./recordRelease";
import { registerHotfix } from "./hotfix";
import { registerValidate } from "./validate";

/*
 * `wepppy-cicd`: one CLI for operators, agents and the rig, declared with commander so that
 * help, unknown options and missing values come from the declarations. Every subcommand
 * takes -s/--stack where it acts on a stack, and --json, which gives one JSON object on
 * success and {ok: false, error, hint} on error. Usage errors exit 2 with one line and a
 * hint; failures exit 1; progress goes to stderr.
 */

export interface Cli {
  /** Sets the process's exit code for this run (the last action's verdict). */
  exit(code: number): void;
}

const VERSION = (require("../package.json") as { version: string }).version;

export function buildProgram(cli: Cli): Command {
  const program = new Command("wepppy-cicd")
    .description("WEPPcloud's CI/CD pipeline: stacks, releases, the rig")
    .version(VERSION, "--version")
    .showHelpAfterError(false)
    .configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  program.exitOverride();
  for (const register of [registerRig, registerRehearse, registerAudit, registerRelease, registerPromote, registerHotfix, registerRecordRelease, registerAdopt, registerRollback, registerStatus, registerValidate, registerCancel, registerConfig, registerPolicy, registerBench]) {
    register(program, cli);
  }
  // Sub-commands inherit the quiet error output and the override, so every usage error reaches main();
  // their descriptions are flowed, since commander keeps a source line break and wraps again at its width.
  const quiet = (c: Command) => {
    c.exitOverride().configureOutput({ writeErr: () => undefined, outputError: () => undefined });
    c.configureHelp({ commandDescription: (cmd) => flowed(cmd.description()) });
    c.commands.forEach(quiet);
  };
  program.commands.forEach(quiet);
  return program;
}

/** Source lines joined into paragraphs; a blank line, an indented line or a list item starts a new line. */
export function flowed(text: string): string {
  return text.replace(/([^\n])\n(?![\s*]|- |\d+\. )/g, "$1 ");
}

function commandName(argv: string[]): string {
  return argv.find((a) => !a.startsWith("-")) ?? "";
}

function usageFailure(argv: string[], message: string, hint: string): number {
  const line = message.replace(/^error: /, "");
  if (argv.includes("--json")) printJson({ ok: false, error: line, hint });
  else process.stderr.write(`wepppy-cicd${commandName(argv) ? ` ${commandName(argv)}` : ""}: ${line}\n  ${hint}\n`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram({ exit: (c) => (code = c) });
  const help = `see: wepppy-cicd help ${commandName(argv)}`.trimEnd();
  if (argv.length === 0) {
    process.stderr.write(`${program.helpInformation()}`);
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return usageFailure(argv, err.message, help);
    }
    if (err instanceof UsageError) return usageFailure(argv, err.message, err.hint ?? help);
    const message = err instanceof Error ? err.message : String(err);
    if (argv.includes("--json")) printJson({ ok: false, error: message });
    else process.stderr.write(`wepppy-cicd: ${message}\n`);
    return 1;
  }
}
