import { ParseArgsConfig, parseArgs } from "node:util";
import { isStackName, STACKS } from "../config/environments";
import { OpResult } from "../ops/common";
import { checkRelease, release } from "../ops/release";
import { backend, currentActor, formatResult, refusal } from "./backend";
import { Subcommand, UsageError, printJson, progress } from "./command";

const usage = `usage: wepppy-cicd release --stack <env> --image <ref> [--rig] [--json]

Puts an image live on a stack through its Pulumi stack (Automation API): on a blue/green
stack the image, pinned to its digest, goes on the idle colour, which becomes live once it
passes its gates (bluegreen.images.<idle>, bluegreen.live, release.id and release.actor are
set, then \`pulumi up\` runs); on a one-colour registry stack image.tag is set. When the
update fails the config is put back exactly as it was. prod is refused: use \`promote\`.

  --stack S     dev, testprod (prod: see promote)
  --image REF   <repository>@sha256:<digest>, or <repository>:<tag> (a blue/green stack pins it
                to the tag's digest now: with --rig through the rig's registry)
  --rig         run against the rig (the stack file plus what the CLI set, rehearsed on the
                rig's hosts; brings the rig up if it is down) instead of the Pulumi stack
  --json        print one JSON object: action, stack, ok, changed, summary, live, image, digest,
                release, keys, update, restored, notes, warnings, error

Exit status is 1 when the release fails or is refused (nothing changed); an image that is
already live changes nothing and exits 0.`;

/** parseArgs, with its complaints (unknown option, missing value) as usage errors. */
export function parseOptions(argv: string[], options: NonNullable<ParseArgsConfig["options"]>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, allowPositionals: false, options }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function requireStack(value: unknown): string {
  if (typeof value !== "string" || !value) throw new UsageError("--stack is required");
  if (!isStackName(value)) throw new UsageError(`--stack expects one of ${STACKS.join(", ")}, got "${value}"`);
  return value;
}

/** Runs an operation; a refusal or an error before any change becomes a result with ok false. */
export async function reported(action: OpResult["action"], stack: string, json: boolean, run: () => Promise<OpResult>): Promise<number> {
  let result: OpResult;
  try {
    result = await run();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    result = refusal(action, stack, err instanceof Error ? err : new Error(String(err)));
  }
  if (json) printJson(result);
  else for (const line of formatResult(result)) console.log(line);
  return result.ok ? 0 : 1;
}

export const releaseCommand: Subcommand = {
  name: "release",
  summary: "put an image live on a stack (blue/green: on the idle colour, then switch)",
  usage,
  async run(argv) {
    const values = parseOptions(argv, { stack: { type: "string" }, image: { type: "string" }, rig: { type: "boolean" }, json: { type: "boolean" } });
    const stack = requireStack(values.stack);
    if (typeof values.image !== "string" || !values.image) throw new UsageError("--image is required");
    const image = values.image;
    const b = backend(Boolean(values.rig));
    return reported("release", stack, Boolean(values.json), async () => {
      checkRelease(stack, image);
      progress(`opening ${stack} (${b.rig ? "rig" : "Pulumi stack"}) ...`);
      return release({
        stack: await b.open(stack),
        image,
        resolveDigest: b.resolveDigest,
        sourceDir: b.sourceDir,
        actor: currentActor(),
        now: new Date(),
        log: progress,
      });
    });
  },
};
