import { parseArgs } from "node:util";
import { backend } from "./backend";
import { auditCommand } from "../render/hostCommands";
import { runRemote } from "../ops/ssh";
import { Subcommand, UsageError, printJson, progress } from "./command";

const usage = `usage: wepppy-cicd audit <stack> [-n N] [--rig] [--identity FILE] [--json]

Prints the audit log kept on the stack's host: every deploy, backup, restore, rollback,
refusal and failure, with time, who, image digest, result and duration. The host is the
stack file's (pinned host key, your key: --identity, default ~/.ssh/id_ed25519), or with
--rig the rig's.`;

export const auditCliCommand: Subcommand = {
  name: "audit",
  summary: "print a stack's audit log from its host",
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { n: { type: "string", short: "n", default: "50" }, rig: { type: "boolean" }, identity: { type: "string" }, json: { type: "boolean" } },
    });
    if (positionals.length !== 1) throw new UsageError("expects exactly one stack name");
    const lines = Number(values.n);
    if (!Number.isInteger(lines) || lines < 1) throw new UsageError("-n expects a positive whole number");
    const access = backend(Boolean(values.rig)).host(positionals[0], values.identity);
    progress(`reading the audit log on ${access.connection.host} (via ${access.via})`);
    const result = await runRemote(access.connection, auditCommand(access.layout, lines));
    if (result.code !== 0) throw new Error(`reading the audit log failed: ${result.stderr.trim()}`);
    const entries = result.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    if (values.json) {
      printJson(entries);
      return 0;
    }
    for (const e of entries) {
      const digest = String(e.digest ?? "").slice(7, 19);
      console.log(
        [e.time, String(e.who).padEnd(8), String(e.action).padEnd(10), String(e.result).padEnd(8), `${e.seconds}s`.padStart(6), digest.padEnd(12), e.detail].join("  "),
      );
    }
    if (entries.length === 0) console.log("(the audit log is empty)");
    return 0;
  },
};
