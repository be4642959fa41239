import { NAMESPACE, PROJECT, STACKS, StackName } from "../config/environments";
import { RawConfig, readStackFile, withOverrides } from "../config/stackFile";
import { gatePolicies } from "../policy/gates";
import { OfflineResult, runPolicies } from "../policy/offline";
import { evaluateStack } from "./evaluate";

/*
 * The quality gates (policy/) run where no credential is: a pull request's job. Each stack is
 * evaluated from its committed stack file under the mock engine, updated and previewed, with
 * placeholders where an operator's secrets would be (the deploy key, the registry token, prod's
 * promoted digest), and the pack judges the graph offline. The same pack runs with
 * `pulumi preview --policy-pack` in the deploy and drift jobs, where the passphrase is.
 */

const PLACEHOLDERS = {
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBvbGljeS1jaGVjay1wbGFjZWhvbGRlci1ob3N0",
  deployKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nPOLICY-CHECK-PLACEHOLDER-KEY\n-----END OPENSSH PRIVATE KEY-----\n",
  registryToken: "POLICY-CHECK-PLACEHOLDER-TOKEN",
  promoted: `ghcr.io/rogerlew/wepppy@sha256:${"0".repeat(64)}`,
};

function placeholderConfig(stack: StackName, sourceDir?: string): RawConfig {
  const raw = withOverrides(
    readStackFile(stack),
    {
      ...(sourceDir ? { "compose.sourceDir": sourceDir } : {}),
      // The gates judge the graph's shape: the PR's checkout of wepppy, not the image's commit (a PR job's checkout is shallow).
      "compose.sourceAt": "checkout",
      "deploy.hostKey": PLACEHOLDERS.hostKey,
      deployKey: PLACEHOLDERS.deployKey,
      registry: { username: "policy-check", password: PLACEHOLDERS.registryToken },
      ...(stack === "prod" ? { "image.digest": PLACEHOLDERS.promoted } : {}),
      ...(stack === "dev" ? { "secrets.github_admin_token": "POLICY-CHECK-PLACEHOLDER-ADMIN" } : {}),
    },
    NAMESPACE,
  );
  return { ...raw, secretKeys: [...raw.secretKeys, `${NAMESPACE}:deployKey`, `${NAMESPACE}:registry`, `${NAMESPACE}:secrets`] };
}

/** Answers the program's lookups without a network: a digest from the name, a GitHub id from the login. */
async function offlineInvoke(token: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { createHash } = await import("node:crypto");
  const digest = `sha256:${createHash("sha256").update(String(args.name ?? args.username)).digest("hex")}`;
  if (token === "docker:index/getRegistryImage:getRegistryImage") return { id: String(args.name), name: args.name, sha256Digest: digest };
  if (token === "github:index/getUser:getUser") return { id: String(parseInt(digest.slice(7, 15), 16)), login: args.username, username: args.username };
  if (token === "github:index/getActionsRegistrationToken:getActionsRegistrationToken") return { token: "POLICY-CHECK-PLACEHOLDER-REGISTRATION", expiresAt: 0, id: "x" };
  throw new Error(`the policy check cannot answer ${token} offline`);
}

export interface PolicyCheckResult {
  ok: boolean;
  stacks: Array<{ stack: string; preview: boolean; violations: OfflineResult["violations"] }>;
}

export async function policyCheck(options: { sourceDir?: string; log?: (line: string) => void } = {}): Promise<PolicyCheckResult> {
  const log = options.log ?? (() => undefined);
  // Default: each stack file's own compose.sourceDir (a wepppy checkout beside this one, as CI has it).
  const sourceDir = options.sourceDir;
  const out: PolicyCheckResult["stacks"] = [];
  const testprodConfig = placeholderConfig("testprod", sourceDir);
  const testprod = await evaluateStack({ stack: "testprod", config: testprodConfig, preview: false, invoke: offlineInvoke });
  for (const preview of [false, true]) {
    for (const stack of STACKS) {
      log(`${stack}: evaluating (${preview ? "preview" : "update"}) and judging it with the quality gates ...`);
      const config = placeholderConfig(stack, sourceDir);
      const ev = stack === "testprod" && !preview ? testprod : await evaluateStack({ stack, config, preview, invoke: offlineInvoke, stackOutputs: { testprod: testprod.outputs } });
      const context = { stackConfig: () => ({ values: config.values, secretKeys: config.secretKeys }) };
      const result = await runPolicies(gatePolicies(context), { stack, project: PROJECT, resources: ev.resources, outputs: ev.outputs }, { config: require("../policy/policy-config.json") });
      out.push({ stack, preview, violations: result.violations });
    }
  }
  return { ok: out.every((s) => s.violations.every((v) => v.enforcementLevel !== "mandatory")), stacks: out };
}
