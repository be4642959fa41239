import { PROJECT, StackName } from "../../config/environments";
import { RawConfig } from "../../config/stackFile";
import { Evaluation, RegisteredResource, isWireSecret } from "../../harness/evaluate";
import { GateContext, gatePolicies } from "../../policy/gates";
import { GraphStack, OfflineOptions, OfflineResult, Violation, runPolicies } from "../../policy/offline";
import { deployableConfig, sharedEvaluation } from "./helpers";

/*
 * The real stacks' graphs for the policy tests: each stack evaluated under the mock engine
 * from its own stack file plus the operator's keys (as test/unit/deployment.test.ts does),
 * updated and previewed, and copies of them to break on purpose.
 */

export interface RealStack {
  stack: StackName;
  preview: boolean;
  config: RawConfig;
  evaluation: Evaluation;
}

let evaluated: Promise<RealStack[]> | undefined;

/** dev, testprod and prod, updated (preview false) and previewed (true); prod reads testprod's outputs. Evaluated once per run (sharedEvaluation): copy before breaking (graphOf). */
export function realStacks(): Promise<RealStack[]> {
  evaluated ??= evaluateAll();
  return evaluated;
}

async function evaluateAll(): Promise<RealStack[]> {
  const out: RealStack[] = [];
  for (const preview of [false, true]) {
    for (const stack of ["dev", "testprod", "prod"] as const) {
      out.push({ stack, preview, config: deployableConfig(stack), evaluation: await sharedEvaluation(stack, preview) });
    }
  }
  return out;
}

/** A deep copy of a stack's graph, safe to break. */
export function graphOf(real: RealStack): GraphStack {
  const copy = JSON.parse(JSON.stringify({ resources: real.evaluation.resources, outputs: real.evaluation.outputs }));
  return { stack: real.stack, project: PROJECT, resources: copy.resources, outputs: copy.outputs };
}

/** The stack config the engine would hand the pack (PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS). */
export function contextOf(config: RawConfig): GateContext {
  return { stackConfig: () => ({ values: config.values, secretKeys: config.secretKeys }) };
}

export function judge(graph: GraphStack, config: RawConfig | undefined, options: OfflineOptions = {}): Promise<OfflineResult> {
  return runPolicies(gatePolicies(config ? contextOf(config) : undefined), graph, options);
}

export function of(result: OfflineResult, policy: string): Violation[] {
  return result.violations.filter((v) => v.policy === policy);
}

/** The one resource whose name ends with `suffix`. */
export function resource(graph: GraphStack, suffix: string): RegisteredResource {
  const found = graph.resources.filter((r) => r.name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`expected one resource named *${suffix}, found ${found.map((r) => r.name).join(", ") || "none"}`);
  return found[0] as RegisteredResource;
}

/** A wire value with its secret wrapper, if any, taken off (to edit what is inside). */
export function inside(value: unknown): any {
  return isWireSecret(value) ? (value as { value: unknown }).value : value;
}
