import "./lazyPromiseStacks";
import { createHash } from "node:crypto";
import { NAMESPACE, StackName } from "../../config/environments";
import { RawConfig, readStackFile, withOverrides } from "../../config/stackFile";
import { EvaluateOptions, Evaluation, evaluateStack } from "../../harness/evaluate";
import { WEPPPY_REFERENCE_DIR } from "../../config/paths";

/**
 * A stack file as the engine would hand it over, with wepppy's compose files taken
 * from the workplace's reference copy (a wepppy checkout is not beside this clone).
 */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): RawConfig {
  // wepppy's reference files are no git checkout: the tests deploy them as they are (test/unit/releaseSource.test.ts covers "commit").
  return withOverrides(readStackFile(stack), { "compose.sourceDir": WEPPPY_REFERENCE_DIR, "compose.sourceAt": "checkout", ...overrides }, NAMESPACE);
}

/** Recognisable stand-ins: a test that finds one in a plain output or a command line has found a leak. */
export const TEST_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXktZm9yLXVuaXQtdGVzdHM";
export const PLACEHOLDER_DEPLOY_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nPLACEHOLDER-DEPLOY-KEY-0f3a\n-----END OPENSSH PRIVATE KEY-----\n";
export const PLACEHOLDER_REGISTRY_TOKEN = "PLACEHOLDER-REGISTRY-TOKEN-77c1";
export const PLACEHOLDER_ADMIN_TOKEN = "PLACEHOLDER-ADMIN-TOKEN-3e8a";

/** The digest a promotion put on prod in the unit tier's stacks (what `wepppy-cicd promote` writes to image.digest). */
export const PROMOTED_IMAGE = `ghcr.io/rogerlew/wepppy@sha256:${"d".repeat(64)}`;

/** A stack file plus what only an operator can add (pinned host key, deploy key, registry token, dev's admin token), and prod's promoted digest. */
export function deployableConfig(stack: string, overrides: Record<string, unknown> = {}): RawConfig {
  const raw = stackConfig(stack, {
    "deploy.hostKey": TEST_HOST_KEY,
    deployKey: PLACEHOLDER_DEPLOY_KEY,
    registry: { username: "rogerlew", password: PLACEHOLDER_REGISTRY_TOKEN },
    ...(stack === "prod" ? { "image.digest": PROMOTED_IMAGE } : {}),
    ...(stack === "dev" ? { "secrets.github_admin_token": PLACEHOLDER_ADMIN_TOKEN } : {}),
    ...overrides,
  });
  return { ...raw, secretKeys: [...raw.secretKeys, `${NAMESPACE}:deployKey`, `${NAMESPACE}:registry`, `${NAMESPACE}:secrets`] };
}

/** The unit tier has no registry: a digest is derived from the reference, so each tag has its own. */
export function fakeDigest(name: string): string {
  return `sha256:${createHash("sha256").update(name).digest("hex")}`;
}

/** The GitHub API cannot be reached here: a login's id is derived from the login. */
export function fakeGithubId(login: string): number {
  return parseInt(fakeDigest(login).slice(7, 15), 16);
}

/** A runner registration token as @pulumi/github would hand it out: recognisable, so a leak can be found. */
export const PLACEHOLDER_REGISTRATION_TOKEN = "PLACEHOLDER-REGISTRATION-TOKEN-5b2c";

/** Answers the provider functions the program calls: registry digests, GitHub user ids, runner registration tokens. */
export function registryAnswer(token: string, args: Record<string, unknown>): Record<string, unknown> {
  if (token === "docker:index/getRegistryImage:getRegistryImage") {
    return { id: String(args.name), name: args.name, sha256Digest: fakeDigest(String(args.name)) };
  }
  if (token === "github:index/getUser:getUser") {
    return { id: String(fakeGithubId(String(args.username))), login: args.username, username: args.username };
  }
  if (token === "github:index/getActionsRegistrationToken:getActionsRegistrationToken") {
    return { id: String(args.repository), repository: args.repository, token: PLACEHOLDER_REGISTRATION_TOKEN, expiresAt: 0 };
  }
  throw new Error(`unexpected invoke ${token}`);
}

/** Evaluates a stack; an update (preview: false) needs the operator's keys, so those are added. */
export function evaluate(stack: string, options: Partial<EvaluateOptions> = {}): Promise<Evaluation> {
  const config = options.preview === false ? deployableConfig(stack) : stackConfig(stack);
  return evaluateStack({ stack, config, invoke: registryAnswer, ...options });
}

const shared = new Map<string, Promise<Evaluation>>();

/**
 * A real stack as the operator updates (preview false) or previews it: its stack file plus the
 * operator's keys (deployableConfig), the registry answered, testprod's update outputs for
 * prod's StackReference, generated passwords as the local provider makes them. Evaluated once
 * per process, for every test file that would evaluate it just so (the policy fixtures, prod's
 * StackReference, the runner host's plain graph); each call gets its own deep copy to read or break.
 */
export async function sharedEvaluation(stack: StackName, preview: boolean): Promise<Evaluation> {
  const key = `${stack}:${preview}`;
  let found = shared.get(key);
  if (!found) {
    found = (async () => {
      const stackOutputs = stack === "testprod" && !preview ? undefined : { testprod: (await sharedEvaluation("testprod", false)).outputs };
      return evaluateStack({ stack, config: deployableConfig(stack), preview, invoke: registryAnswer, stackOutputs });
    })();
    shared.set(key, found);
  }
  return structuredClone(await found);
}

/** A file the stack stages for a release on its host (a CopyToRemote), as text: by its path under the release directory. */
export function stagedText(ev: { resources: Array<{ name: string; wireInputs: Record<string, unknown> }> }, stack: string, releasePath: string): string {
  const id = `${stack}-compose-staged-${releasePath.replace(/[^A-Za-z0-9.-]/g, "-")}`;
  const found = ev.resources.find((r) => r.name === id);
  if (!found) throw new Error(`no staged file ${releasePath} (${id}); staged: ${ev.resources.filter((r) => r.name.includes("-staged-")).map((r) => r.name).join(", ")}`);
  const source = found.wireInputs.source as { text?: string; path?: string };
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return typeof source.text === "string" ? source.text : require("node:fs").readFileSync(String(source.path), "utf8");
}

/** The deploy request the stack hands its host's agent (the deploy command's stdin). */
export function deployRequest(ev: { resources: Array<{ name: string; inputs: Record<string, any> }> }, stack: string): Record<string, any> {
  const deploy = ev.resources.find((r) => r.name === `${stack}-compose-deploy`);
  if (!deploy) throw new Error(`no ${stack}-compose-deploy`);
  return JSON.parse(String(deploy.inputs.stdin));
}
