import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../config/environments";
import { RawConfig } from "../config/stackFile";
import { createLocally } from "./localProviders";

/*
 * Runs the Pulumi program for one stack under the SDK's mock runtime and records what
 * it declares. This is how the stacks are evaluated here, where no Pulumi CLI exists:
 * by the unit tests, by `wepppy-cicd policy check`, and by rehearsals, which answer each
 * resource by really running it on the rig.
 */

/** The marker the Pulumi wire format puts on a secret value. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

export interface ResourceRequest {
  type: string;
  name: string;
  /** The URN the real engine gives it: the parent's qualified type chain, the root stack left out. */
  urn: string;
  custom: boolean;
  /** Inputs with secrets unwrapped: what the provider would receive. */
  inputs: Record<string, any>;
  /** Inputs as sent on the wire, where each secret is still wrapped in its marker. */
  wireInputs: Record<string, unknown>;
  parent: string;
  /** URNs of the resources this one waits for (inputs and dependsOn). */
  dependencies: string[];
  additionalSecretOutputs: string[];
  /** Replacement deletes the old resource first (default: the new one is created first). */
  deleteBeforeReplace: boolean;
  /** Property paths whose change replaces the resource (resource option; the SDKs of command set `triggers[*]`). */
  replaceOnChanges: string[];
  ignoreChanges: string[];
  protect: boolean;
  retainOnDelete: boolean;
  provider: string;
}

export interface RegisteredResource extends ResourceRequest {
  id: string;
  state: Record<string, unknown>;
}

export interface Invocation {
  token: string;
  args: Record<string, unknown>;
}

export interface CreateResult {
  id?: string;
  state: Record<string, unknown>;
}

export interface EvaluateOptions {
  stack: string;
  config: RawConfig;
  /** Preview (true) leaves outputs of new resources unknown; update (false) resolves them. */
  preview?: boolean;
  /** Answers provider functions, such as a registry's digest lookup. */
  invoke?: (token: string, args: Record<string, unknown>, provider?: string) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Outputs of other stacks, by stack name, for StackReferences. */
  stackOutputs?: Record<string, Record<string, unknown>>;
  /** Creates one resource; the default does what local providers can and returns inputs as state otherwise. */
  create?: (request: ResourceRequest) => Promise<CreateResult>;
  /** The program to run; default: this project's (program/index.ts). */
  program?: () => Promise<Record<string, unknown>>;
}

/** Raised for a resource the program registers after a step failed: the engine starts no new step then. */
export class StepNotStarted extends Error {
  constructor(readonly urn: string) {
    super(`${urn}: not started: the update failed earlier`);
    this.name = "StepNotStarted";
  }
}

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/**
 * The engine's URN: the qualified type is the parent's qualified type and this type joined
 * by "$", the root stack's type left out (pulumi sdk/go/common/resource/urn.go NewURN). The
 * SDK's mock monitor keeps only the parent's last type, so the harness computes its own.
 */
export function engineUrn(stack: string, project: string, parentUrn: string, type: string, name: string): string {
  const parentType = parentUrn ? parentUrn.split("::")[2] : "";
  const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** The URN the SDK's mock monitor gives (runtime/mocks.js newUrn), to map its parents to engine URNs. */
function mockUrn(stack: string, project: string, parent: string, type: string, name: string): string {
  const qualified = parent ? `${parent.split("::")[2].split("$").pop()}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

export interface Evaluation {
  stack: string;
  preview: boolean;
  resources: RegisteredResource[];
  invokes: Invocation[];
  outputs: Record<string, unknown>;
  /** Names of stack outputs that are secret. */
  secretOutputs: string[];
  warnings: string[];
}

/** Whether a value as sent on the wire is wrapped as a secret. */
export function isWireSecret(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Every string in a wire value outside a secret marker (what a plain output, trigger or argv could show). */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value && typeof value === "object") {
    if (isWireSecret(value)) return out;
    Object.values(value as Record<string, unknown>).forEach((v) => plainStrings(v, out));
  }
  return out;
}

function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    if (isWireSecret(record)) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** The stack name in a StackReference's `organization/project/stack` name. */
function referencedStack(name: string): string {
  return name.split("/").pop() ?? name;
}

let queue: Promise<unknown> = Promise.resolve();

/** One stack at a time: the mock runtime is process-global. */
/*
 * When a resource fails, the engine's other pending promises for that program reject
 * after the evaluation has returned, with no one left to handle them; Pulumi's own CLI
 * ends the process there. A long-lived caller (the release CLI, the benchmark) goes on,
 * so those late rejections of a failed evaluation are dropped, and only those: anything
 * else still ends the process as Node would.
 */
let failedEvaluationAt = 0;
let tolerating = false;
const LATE = /failed to register new resource|error serializing property|Resource monitor is terminating|failed on [^:]+: exit|not started: the update failed earlier/;

function tolerateLateRejections(): void {
  if (tolerating) return;
  tolerating = true;
  process.on("unhandledRejection", (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (Date.now() - failedEvaluationAt < 600_000 && LATE.test(message)) return;
    process.nextTick(() => {
      throw err;
    });
  });
}

export function evaluateStack(options: EvaluateOptions): Promise<Evaluation> {
  const run = queue.then(() => evaluateOnce(options));
  queue = run.catch(() => undefined);
  return run;
}

async function evaluateOnce(options: EvaluateOptions): Promise<Evaluation> {
  const preview = options.preview ?? true;
  const resources: RegisteredResource[] = [];
  const invokes: Invocation[] = [];
  const warnings: string[] = [];
  const failures: Error[] = [];
  const pending = new Map<string, Omit<ResourceRequest, "inputs" | "custom" | "provider" | "urn">>();
  /** Mock URN -> engine URN, for the parent chain. */
  const engineUrns = new Map<string, string>();
  // A failed step fails the update whatever the program still waits for (resources that
  // depend on the failed one are never registered), and so does a rejected apply.
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  /** Steps under way: the evaluation ends only when every one of them has finished. */
  const inFlight = new Set<Promise<unknown>>();
  let stopped = false;

  const create = options.create ?? (async (r: ResourceRequest): Promise<CreateResult> => createLocally(r) ?? { state: r.inputs });

  await pulumi.runtime.setMocks(
    {
      newResource: async (args: pulumi.runtime.MockResourceArgs) => {
        const meta = pending.get(`${args.type}::${args.name}`);
        const parent = meta?.parent ?? "";
        const urn = engineUrn(options.stack, PROJECT, engineUrns.get(parent) ?? "", args.type, args.name);
        engineUrns.set(mockUrn(options.stack, PROJECT, parent, args.type, args.name), urn);
        const request: ResourceRequest = {
          type: args.type,
          name: args.name,
          urn,
          custom: args.custom ?? true,
          inputs: unwrapSecrets(args.inputs) as Record<string, any>,
          wireInputs: meta?.wireInputs ?? {},
          parent: engineUrns.get(parent) ?? parent,
          dependencies: (meta?.dependencies ?? []).map((d) => engineUrns.get(d) ?? d),
          additionalSecretOutputs: meta?.additionalSecretOutputs ?? [],
          deleteBeforeReplace: meta?.deleteBeforeReplace ?? false,
          replaceOnChanges: meta?.replaceOnChanges ?? [],
          ignoreChanges: meta?.ignoreChanges ?? [],
          protect: meta?.protect ?? false,
          retainOnDelete: meta?.retainOnDelete ?? false,
          provider: args.provider ?? "",
        };
        // Like the engine: once a step has failed (or the program has), no new step starts.
        if (stopped && request.custom) throw new StepNotStarted(urn);
        const step = (async (): Promise<CreateResult> => {
          if (args.type === "pulumi:pulumi:StackReference") {
            const stack = referencedStack(String(request.inputs.name));
            const outputs = options.stackOutputs?.[stack];
            if (!outputs) throw new Error(`no outputs are known for stack "${stack}": evaluate or rehearse it first`);
            return { id: String(request.inputs.name), state: { name: request.inputs.name, outputs, secretOutputNames: [] } } as CreateResult;
          }
          return create(request);
        })();
        inFlight.add(step);
        try {
          const result = await step;
          const id = result.id ?? `${args.name}-id`;
          resources.push({ ...request, id, state: result.state });
          return { id, state: result.state };
        } catch (err) {
          stopped = true;
          failures.push(err as Error);
          fail(err);
          throw err;
        } finally {
          inFlight.delete(step);
        }
      },
      call: async (args: pulumi.runtime.MockCallArgs) => {
        const invocation = { token: args.token, args: unwrapSecrets(args.inputs) as Record<string, unknown> };
        invokes.push(invocation);
        if (!options.invoke) throw new Error(`nothing answers ${args.token} in this evaluation`);
        try {
          const provider = args.provider ? engineUrns.get(args.provider.split("::").slice(0, 4).join("::")) ?? args.provider : undefined;
          return await options.invoke(invocation.token, invocation.args, provider);
        } catch (err) {
          failures.push(err as Error);
          throw err;
        }
      },
    },
    PROJECT,
    options.stack,
    preview,
    "organization",
  );
  pulumi.runtime.setAllConfig(options.config.values, options.config.secretKeys);

  // The mock callback does not see parents or dependencies; the request does.
  const monitor = pulumi.runtime.getMonitor() as any;
  for (const method of ["registerResource", "readResource"] as const) {
    const original = monitor[method].bind(monitor);
    monitor[method] = (req: any, callback: any) => {
      const reading = method === "readResource";
      pending.set(`${req.getType()}::${req.getName()}`, {
        type: req.getType(),
        name: req.getName(),
        wireInputs: (reading ? req.getProperties() : req.getObject())?.toJavaScript() ?? {},
        parent: req.getParent(),
        dependencies: req.getDependenciesList(),
        additionalSecretOutputs: reading ? [] : req.getAdditionalsecretoutputsList(),
        deleteBeforeReplace: reading ? false : req.getDeletebeforereplace(),
        replaceOnChanges: reading ? [] : req.getReplaceonchangesList(),
        ignoreChanges: reading ? [] : req.getIgnorechangesList(),
        protect: reading ? false : Boolean(req.getProtect()),
        retainOnDelete: reading ? false : Boolean(req.getRetainondelete()),
      });
      return original(req, callback);
    };
  }

  // Warnings are returned to the caller, which decides whether to print them.
  const originalWarn = pulumi.log.warn;
  (pulumi.log as any).warn = async (message: string) => {
    warnings.push(message);
  };

  const onRejection = (err: unknown) => {
    stopped = true;
    failures.push(err as Error);
    fail(err);
  };
  process.on("unhandledRejection", onRejection);
  try {
    const run = async () => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const program: () => Promise<Record<string, unknown>> = options.program ?? require("../program/index");
      const declared = await program();
      const outputs: Record<string, unknown> = {};
      const secretOutputs: string[] = [];
      for (const [key, value] of Object.entries(declared)) {
        const out = pulumi.output(value) as any;
        outputs[key] = await out.promise();
        if (await out.isSecret) secretOutputs.push(key);
      }
      await (pulumi.runtime as any).waitForRPCs();
      return { outputs, secretOutputs };
    };
    const { outputs, secretOutputs } = await Promise.race([run(), failed]);
    if (failures.length > 0) throw failures[0];
    return { stack: options.stack, preview, resources, invokes, outputs, secretOutputs, warnings };
  } catch (err) {
    stopped = true;
    failedEvaluationAt = Date.now();
    // Like the engine: steps already under way finish (and are recorded) before the update ends.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    throw err;
  } finally {
    process.off("unhandledRejection", onRejection);
    if (failedEvaluationAt > 0) tolerateLateRejections();
    (pulumi.log as any).warn = originalWarn;
  }
}
