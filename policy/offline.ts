import type {
  EnforcementLevel,
  Policies,
  PolicyPackConfig,
  PolicyProviderResource,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  StackValidationArgs,
} from "@pulumi/policy";
import { STACK_TYPE } from "./graph";

/*
 * Runs a policy pack's policies without the Pulumi engine, on a resource graph recorded by
 * the mock-engine evaluator (harness/evaluate.ts: each resource's wire inputs, state,
 * parent, dependencies and options). The arguments are built the way @pulumi/policy's
 * analyzer server builds them (server.js: makeAnalyzeRpcFun, makeAnalyzeStackRpcFun), with
 * the SDK's own deserializer (secrets unwrapped, unknowns kept) and unknown-checking proxy:
 * per-resource policies see inputs, stack policies see outputs, and the stack's outputs are
 * the root pulumi:pulumi:Stack resource's properties. Enforcement levels come from the
 * policy, overridden by the pack config as `pulumi preview --policy-pack-config` would.
 */

/** One resource as harness/evaluate.ts records it (RegisteredResource); structural, so nothing here imports the harness. */
export interface GraphResource {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  /** Inputs as sent on the wire: secrets wrapped, unknowns as the engine's markers. */
  wireInputs: Record<string, unknown>;
  /** Outputs (the mock engine's state). */
  state: Record<string, unknown>;
  parent: string;
  dependencies: string[];
  additionalSecretOutputs: string[];
  deleteBeforeReplace: boolean;
  /** Provider reference "urn::id", empty for the default provider. */
  provider: string;
}

export interface GraphStack {
  stack: string;
  project: string;
  resources: GraphResource[];
  outputs: Record<string, unknown>;
}

export interface Violation {
  policy: string;
  enforcementLevel: EnforcementLevel;
  message: string;
  /** The resource reported against (a stack policy may report against the stack as a whole). */
  urn?: string;
  resource?: string;
  /** The policy could not judge a value a preview does not know yet (the SDK reports this as advisory). */
  cannotRun?: boolean;
}

export interface OfflineResult {
  violations: Violation[];
  notApplicable: { policy: string; reason: string }[];
}

export interface OfflineOptions {
  /** As the file given to --policy-pack-config: `{"<policy>": "advisory"}` or `{"<policy>": {"enforcementLevel": ..., ...}}`. */
  config?: PolicyPackConfig;
  /** The PolicyPack's own default (the SDK's default is advisory). */
  packEnforcementLevel?: EnforcementLevel;
}

interface SdkInternals {
  deserializeProperties(struct: { toJavaScript(): unknown }, proxySecrets: boolean): Record<string, unknown>;
  unknownCheckingProxy<T>(value: T): T;
  UnknownValueError: new (...args: never[]) => Error;
}

function sdk(): SdkInternals {
  /* eslint-disable @typescript-eslint/no-var-requires */
  const { deserializeProperties } = require("@pulumi/policy/deserialize");
  const { unknownCheckingProxy, UnknownValueError } = require("@pulumi/policy/proxy");
  /* eslint-enable @typescript-eslint/no-var-requires */
  if (typeof deserializeProperties !== "function" || typeof unknownCheckingProxy !== "function" || typeof UnknownValueError !== "function") {
    throw new Error("@pulumi/policy changed its internals (deserialize.js, proxy.js): the offline policy runner needs updating");
  }
  return { deserializeProperties, unknownCheckingProxy, UnknownValueError };
}

class NotApplicable extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function notApplicable(reason?: string): never {
  throw new NotApplicable(reason ?? "");
}

function levelOf(policy: { name: string; enforcementLevel?: EnforcementLevel }, options: OfflineOptions): EnforcementLevel {
  const c = options.config?.[policy.name];
  const configured = typeof c === "string" ? c : c?.enforcementLevel;
  const level = configured || policy.enforcementLevel || options.packEnforcementLevel || "advisory";
  // The SDK reports a violation of a remediating policy as mandatory.
  return level === "remediate" ? "mandatory" : level;
}

function configFor(name: string, options: OfflineOptions): Record<string, unknown> {
  const c = options.config?.[name];
  if (!c || typeof c === "string") return {};
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { enforcementLevel, ...rest } = c;
  return rest;
}

function isTypeOf(type: string) {
  return (resourceClass: { __pulumiType?: string; isInstance?: (o: unknown) => boolean }) =>
    resourceClass.__pulumiType === type || resourceClass.isInstance?.({ __pulumiType: type }) === true;
}

function optionsOf(r: GraphResource): PolicyResourceOptions {
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [...r.additionalSecretOutputs],
    deleteBeforeReplace: r.deleteBeforeReplace,
    ...(r.parent ? { parent: r.parent } : {}),
  };
}

/** The root resource the engine registers for every program; its properties are the stack's outputs. */
function stackResource(graph: GraphStack): GraphResource {
  const name = `${graph.project}-${graph.stack}`;
  return {
    type: STACK_TYPE,
    name,
    urn: `urn:pulumi:${graph.stack}::${graph.project}::${STACK_TYPE}::${name}`,
    custom: false,
    wireInputs: {},
    state: graph.outputs,
    parent: "",
    dependencies: [],
    additionalSecretOutputs: [],
    deleteBeforeReplace: false,
    provider: "",
  };
}

export async function runPolicies(policies: Policies, graph: GraphStack, options: OfflineOptions = {}): Promise<OfflineResult> {
  const internals = sdk();
  const result: OfflineResult = { violations: [], notApplicable: [] };
  const all = [stackResource(graph), ...graph.resources];
  const byUrn = new Map(all.map((r) => [r.urn, r]));

  const inputsOf = (r: GraphResource) => internals.unknownCheckingProxy(internals.deserializeProperties({ toJavaScript: () => r.wireInputs }, false));
  const outputsOf = (r: GraphResource) => {
    // Outputs: what the provider returned, with the inputs in their wire form where both
    // have a key (the wire form keeps a preview's unknowns as unknowns).
    const inputs = internals.deserializeProperties({ toJavaScript: () => r.wireInputs }, false);
    return internals.unknownCheckingProxy({ ...r.state, ...inputs });
  };
  const providerOf = (r: GraphResource): PolicyProviderResource | undefined => {
    if (!r.custom || r.type.startsWith("pulumi:providers:")) return undefined;
    const urn = r.provider.split("::").slice(0, -1).join("::");
    const declared = urn ? byUrn.get(urn) : undefined;
    const pkg = r.type.split(":")[0];
    if (declared) return { type: declared.type, name: declared.name, urn: declared.urn, props: inputsOf(declared) };
    const type = `pulumi:providers:${pkg}`;
    return { type, name: "default", urn: urn || `urn:pulumi:${graph.stack}::${graph.project}::${type}::default`, props: {} };
  };

  const run = async (policy: Policies[number], level: EnforcementLevel, urn: string | undefined, call: (report: (message: string, urn?: string) => void) => unknown) => {
    const report = (message: string, reported?: string) => {
      const at = urn ?? reported;
      result.violations.push({ policy: policy.name, enforcementLevel: level, message, ...(at ? { urn: at, resource: byUrn.get(at)?.name } : {}) });
    };
    try {
      await call(report);
    } catch (err) {
      if (err instanceof NotApplicable) result.notApplicable.push({ policy: policy.name, reason: err.reason });
      else if (err instanceof internals.UnknownValueError) {
        result.violations.push({ policy: policy.name, enforcementLevel: "advisory", message: `can't run policy '${policy.name}' during preview: ${err.message}`, urn, cannotRun: true });
      } else {
        throw new Error(`policy ${policy.name}${urn ? ` on ${urn}` : ""} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  for (const policy of policies) {
    const level = levelOf(policy, options);
    if (level === "disabled") continue;
    const getConfig = <T extends object>() => configFor(policy.name, options) as T;
    if ("validateResource" in policy && policy.validateResource) {
      const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
      for (const r of all) {
        for (const validate of validations) {
          const props = inputsOf(r);
          const args: ResourceValidationArgs = {
            type: r.type,
            props,
            urn: r.urn,
            name: r.name,
            opts: optionsOf(r),
            provider: providerOf(r),
            stackTags: new Map(),
            isType: isTypeOf(r.type) as ResourceValidationArgs["isType"],
            asType: ((cls: never) => (isTypeOf(r.type)(cls) ? props : undefined)) as ResourceValidationArgs["asType"],
            getConfig,
            notApplicable,
          };
          await run(policy, level, r.urn, (report) => validate(args, report));
        }
      }
    }
    if ("validateStack" in policy && policy.validateStack) {
      const resources = new Map<string, PolicyResource>();
      for (const r of all) {
        const props = outputsOf(r);
        resources.set(r.urn, {
          type: r.type,
          props,
          urn: r.urn,
          name: r.name,
          opts: optionsOf(r),
          provider: providerOf(r),
          dependencies: [],
          propertyDependencies: {},
          isType: isTypeOf(r.type) as PolicyResource["isType"],
          asType: ((cls: never) => (isTypeOf(r.type)(cls) ? props : undefined)) as PolicyResource["asType"],
        });
      }
      for (const r of all) {
        const res = resources.get(r.urn)!;
        if (r.parent && resources.has(r.parent)) res.parent = resources.get(r.parent);
        res.dependencies = r.dependencies.map((d) => resources.get(d)).filter((d): d is PolicyResource => d !== undefined);
      }
      const args: StackValidationArgs = { resources: [...resources.values()], stackTags: new Map(), getConfig, notApplicable };
      await run(policy, level, undefined, (report) => policy.validateStack(args, report));
    }
  }
  return result;
}
