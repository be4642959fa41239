import { createHash } from "node:crypto";
import { NAMESPACE } from "../../config/environments";
import { RawConfig, readStackFile, withOverrides } from "../../config/stackFile";
import { EvaluateOptions, Evaluation, evaluateStack } from "../../lib/evaluate";
import { WEPPPY_REFERENCE_DIR } from "../../lib/paths";

/**
 * A stack file as the engine would hand it over, with wepppy's compose files taken
 * from the workplace's reference copy (a wepppy checkout is not beside this clone).
 */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): RawConfig {
  return withOverrides(readStackFile(stack), { "compose.sourceDir": WEPPPY_REFERENCE_DIR, ...overrides }, NAMESPACE);
}

/** The unit tier has no registry: a digest is derived from the reference, so each tag has its own. */
export function fakeDigest(name: string): string {
  return `sha256:${createHash("sha256").update(name).digest("hex")}`;
}

export function registryAnswer(token: string, args: Record<string, unknown>): Record<string, unknown> {
  if (token !== "docker:index/getRegistryImage:getRegistryImage") throw new Error(`unexpected invoke ${token}`);
  return { id: String(args.name), name: args.name, sha256Digest: fakeDigest(String(args.name)) };
}

export function evaluate(stack: string, options: Partial<EvaluateOptions> = {}): Promise<Evaluation> {
  return evaluateStack({ stack, config: stackConfig(stack), invoke: registryAnswer, ...options });
}
