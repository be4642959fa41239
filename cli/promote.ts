import { promote } from "../ops/promote";
import { readAuditEntries } from "../ops/hostQueries";
import { backend, currentActor } from "./backend";
import { Subcommand, UsageError, progress } from "./command";
import { parseOptions, reported } from "./release";

const usage = `usage: wepppy-cicd promote [--force --reason TEXT] [--rig] [--identity FILE] [--json]

Promotes the image testprod has live (its outputs imageRef/imageDigest) to prod: it goes on
prod's idle colour and becomes live, as release prod-YYYYMMDD-HHMMSS, version YYYY.MM.PATCH.
Refused unless testprod's audit log shows a passing validation ("validate", "ok") of that
digest within prod's promotion.windowHours. When the update fails the config is put back.

  --force         promote without that validation; needs --reason
  --reason TEXT   why (plain text, no quotes, backslashes, $ or backticks): it goes into
                  release.note and with it into prod's audit log
  --rig           run against the rig instead of the Pulumi stacks
  --identity F    private key for testprod's host (default ~/.ssh/id_ed25519; not with the rig)
  --json          print one JSON object (as release --json)

Exit status is 1 when the promotion fails or is refused (nothing changed).`;

export const promoteCommand: Subcommand = {
  name: "promote",
  summary: "promote testprod's validated live image to prod",
  usage,
  async run(argv) {
    const values = parseOptions(argv, {
      force: { type: "boolean" },
      reason: { type: "string" },
      rig: { type: "boolean" },
      identity: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.force && !values.reason) throw new UsageError("--force needs --reason TEXT (it is recorded in prod's audit log)");
    if (values.reason && !values.force) throw new UsageError("--reason goes with --force");
    const b = backend(Boolean(values.rig));
    const identity = values.identity as string | undefined;
    return reported("promote", "prod", Boolean(values.json), async () => {
      progress(`opening prod (${b.rig ? "rig" : "Pulumi stack"}) ...`);
      return promote({
        prod: await b.open("prod"),
        source: (stack) => b.open(stack),
        validations: (_digest, stack) => {
          progress(`reading ${stack}'s audit log over SSH ...`);
          return readAuditEntries(b.host(stack, identity), 500);
        },
        force: Boolean(values.force),
        reason: values.reason as string | undefined,
        sourceDir: b.sourceDir,
        actor: currentActor(),
        now: new Date(),
        log: progress,
      });
    });
  },
};
