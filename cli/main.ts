import { Subcommand, UsageError } from "./command";
import { subcommands } from "./registry";

function help(): string {
  const width = Math.max(...subcommands.map((c) => c.name.length));
  const lines = subcommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "usage: wepppy-cicd <command> [options]",
    "",
    "commands:",
    ...lines,
    "",
    "Every command takes --help, and --json for machine-readable output.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return name ? 0 : 2;
  }
  const command: Subcommand | undefined = subcommands.find((c) => c.name === name);
  if (!command) {
    console.error(`wepppy-cicd: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`wepppy-cicd ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    throw err;
  }
}
