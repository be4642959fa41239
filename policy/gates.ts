import type {
  EnforcementLevel,
  PolicyConfigSchema,
  PolicyResource,
  ReportViolation,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { COMMAND, COPY_TO_REMOTE, STACK_TYPE, commands, configOf, field, raw, stackOfResources, text, waitsFor } from "./graph";
import {
  Needle,
  SECRET_DEFAULTS,
  SecretSettings,
  declaredSecrets,
  findIn,
  leavesTheProgram,
  needles,
  plainProperties,
  secretConfigValues,
} from "./secrets";
import { ACTION_FILE, WORKFLOW_FILE, actionUses, checkNames, pinProblem, readWorkflow } from "./workflow";

/*
 * The quality gates of the pipeline (spec: Quality Gates; issue 13, item 6) as CrossGuard
 * policies. Each is mandatory unless the policy pack config says otherwise, e.g.
 * `{"actions-pinned-by-sha": "advisory"}` or `{"<name>": {"enforcementLevel": "advisory", ...}}`
 * (pulumi preview --policy-pack policy --policy-pack-config policy/policy-config.json).
 * Every message says what to change.
 */

export const GATES = {
  prodImage: "prod-digest-pinned-after-backup",
  productionEnvironment: "production-environment-protected",
  hostKey: "host-key-pinned",
  plainSecrets: "no-secret-in-plain-value",
  silentCommands: "secret-commands-silent",
  requiredChecks: "required-checks-match-pr-jobs",
  pinnedActions: "actions-pinned-by-sha",
} as const;
export type GateName = (typeof GATES)[keyof typeof GATES];

/** What the pack knows beyond the graph: the stack's config as the engine passes it to a policy pack. */
export interface GateContext {
  /** Config values by `project:key` (PULUMI_CONFIG) and which keys are secret (PULUMI_CONFIG_SECRET_KEYS). */
  stackConfig(): { values: Record<string, string>; secretKeys: string[] };
}

export const NO_STACK_CONFIG: GateContext = { stackConfig: () => ({ values: {}, secretKeys: [] }) };

const GH = "github:index/";
export const TYPES = {
  environment: `${GH}repositoryEnvironment:RepositoryEnvironment`,
  deploymentPolicy: `${GH}repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy`,
  ruleset: `${GH}repositoryRuleset:RepositoryRuleset`,
  file: `${GH}repositoryFile:RepositoryFile`,
} as const;

const MANDATORY: EnforcementLevel = "mandatory";
const DIGEST_REF = /^[^\s@]+@sha256:[0-9a-f]{64}$/;
/** An OpenSSH public host key line: "<type> <base64>" (optionally a comment). */
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( \S.*)?$/;

const stringList = (description: string, defaults: string[]) => ({ type: "array" as const, items: { type: "string" as const }, default: defaults, description });

// ---------------------------------------------------------------------------------------
// prod runs only a digest-pinned image, after a verified pre-deploy backup

interface ProdImageConfig {
  productionStacks: string[];
  deployCommand: string;
  settingsFile: string;
}
const PROD_IMAGE_DEFAULTS: ProdImageConfig = {
  productionStacks: ["prod"],
  deployCommand: "wepppy-deploy deploy( |$)",
  settingsFile: "deploy.json",
};

/**
 * The plain text a command sends on stdin (the deploy request), or undefined when it sends
 * none or a secret stream. Read through the SDK's proxy: a request a preview cannot know
 * yet ends the check as "cannot run during preview" instead of passing it unseen.
 */
function plainStdin(c: PolicyResource): string | undefined {
  if (raw(c.props).stdin === undefined || (c.opts.additionalSecretOutputs ?? []).includes("stdin")) return undefined;
  return String(c.props.stdin);
}

interface DeployRequestSeen {
  image: unknown;
  releaseKey: unknown;
}

function parseRequest(stdin: string | undefined): DeployRequestSeen | string {
  if (stdin === undefined) return "sends no plain request on stdin";
  try {
    const doc = JSON.parse(stdin) as unknown;
    if (doc === null || typeof doc !== "object" || (doc as Record<string, unknown>).action !== "deploy") return "sends a stdin that is not a deploy request";
    return doc as DeployRequestSeen;
  } catch {
    return "sends a stdin that is not JSON";
  }
}

function prodImagePolicy(): StackValidationPolicy {
  return {
    name: GATES.prodImage,
    description: "Production runs only an image pinned to a digest, deployed after a verified pre-deploy backup.",
    enforcementLevel: MANDATORY,
    remediationSteps:
      "Give production the digest testprod runs (wepppy-cicd promote, which sets wepppy-cicd:image.digest); set wepppy-cicd:backup.preDeploy: true; keep the deploy depending on its staged release.",
    configSchema: {
      properties: {
        productionStacks: stringList("Stacks this gate applies to.", PROD_IMAGE_DEFAULTS.productionStacks),
        deployCommand: { type: "string", default: PROD_IMAGE_DEFAULTS.deployCommand, description: "How a deploy command is recognised (regular expression on its create)." },
        settingsFile: { type: "string", default: PROD_IMAGE_DEFAULTS.settingsFile, description: "The host settings file staged with each release." },
      },
    },
    validateStack: async (args: StackValidationArgs, report: ReportViolation) => {
      const cfg = configOf(PROD_IMAGE_DEFAULTS, args.getConfig());
      const stack = stackOfResources(args.resources) ?? "";
      if (!cfg.productionStacks.includes(stack)) args.notApplicable(`${stack} is not a production stack (productionStacks: ${cfg.productionStacks.join(", ")})`);
      const deployRe = new RegExp(cfg.deployCommand);
      // Found by what is known: a command whose create a preview cannot know yet is not a deploy this can see.
      const deploys = commands(args.resources).filter((c) => deployRe.test(text(c.props, "create") ?? ""));
      if (deploys.length === 0) args.notApplicable(`${stack} runs no deploy on a host`);
      const copies = args.resources.filter((r) => r.type === COPY_TO_REMOTE);

      for (const deploy of deploys) {
        const request = parseRequest(plainStdin(deploy));
        if (typeof request === "string") {
          report(`${deploy.name} ${request}: the gate cannot see which image production would run; the deploy's request must be plain JSON on stdin`, deploy.urn);
          continue;
        }
        if (typeof request.image !== "string" || !DIGEST_REF.test(request.image)) {
          report(
            `${deploy.name} asks the host to run ${request.image === null ? "no image in particular" : JSON.stringify(request.image)}, which is not pinned to a digest: production runs only <repository>@sha256:<digest>; promote testprod's live digest (wepppy-cicd promote sets wepppy-cicd:image.digest)`,
            deploy.urn,
          );
        }
        const key = String(request.releaseKey);
        const settingsPath = `/releases/${key}/${cfg.settingsFile}`;
        const staged = copies.filter((c) => (text(c.props, "remotePath") ?? "").endsWith(settingsPath));
        if (staged.length === 0) {
          report(`${deploy.name} deploys release ${key}, but nothing stages its ${cfg.settingsFile} (…${settingsPath}): the host would deploy without a pre-deploy backup it was told to take`, deploy.urn);
          continue;
        }
        for (const copy of staged) {
          const settings = await stagedJson(copy);
          if (settings === undefined) {
            report(`${copy.name} stages ${cfg.settingsFile} as something other than JSON text: the gate cannot see whether production backs up first`, copy.urn);
            continue;
          }
          const backup = (settings.backup ?? {}) as Record<string, unknown>;
          if (backup.preDeploy !== true) {
            report(
              `${copy.name} stages backup.preDeploy: ${JSON.stringify(backup.preDeploy)}: production deploys only after a verified pre-deploy backup; set wepppy-cicd:backup.preDeploy: true in Pulumi.${stack}.yaml`,
              copy.urn,
            );
          }
          if (!settings.dbService) {
            report(`${copy.name} names no dbService: the pre-deploy backup has no database to dump; production's compose files must run postgres`, copy.urn);
          }
          if (!waitsFor(args.resources, deploy, copy.urn)) {
            report(`${deploy.name} does not wait for ${copy.name}: the deploy could run before its settings are on the host; make it depend on ${copy.name} (dependsOn)`, deploy.urn);
          }
        }
      }
    },
  };
}

/** The JSON a copy sends as a text asset, or undefined (a file on disk, not JSON). */
async function stagedJson(copy: PolicyResource): Promise<Record<string, unknown> | undefined> {
  const source = raw(field(copy.props, "source")) as { text?: Promise<string> | string } | undefined;
  if (source === undefined || source.text === undefined) return undefined;
  try {
    const doc = JSON.parse(await source.text) as unknown;
    return doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// production has required reviewers and deploys from master only

interface EnvironmentConfig {
  environments: string[];
  branch: string;
  productionStacks: string[];
  preventSelfReview: boolean;
  allowAdminBypass: boolean;
}
const ENVIRONMENT_DEFAULTS: EnvironmentConfig = {
  environments: ["production"],
  branch: "master",
  productionStacks: ["prod"],
  preventSelfReview: true,
  allowAdminBypass: false,
};

function productionEnvironmentPolicy(): StackValidationPolicy {
  return {
    name: GATES.productionEnvironment,
    description: "The production GitHub environment requires reviewers and deploys only from master.",
    enforcementLevel: MANDATORY,
    remediationSteps:
      "Set wepppy-cicd:github.environment.reviewers in the production stack file; keep its deployment branch policy custom, with the single branch pattern master.",
    configSchema: {
      properties: {
        environments: stringList("GitHub environments this gate protects.", ENVIRONMENT_DEFAULTS.environments),
        branch: { type: "string", default: ENVIRONMENT_DEFAULTS.branch, description: "The only branch that may deploy." },
        productionStacks: stringList("Stacks that must declare one of the environments.", ENVIRONMENT_DEFAULTS.productionStacks),
        preventSelfReview: { type: "boolean", default: true, description: "The one who triggers a deployment may not approve it." },
        allowAdminBypass: { type: "boolean", default: false, description: "Whether repository admins may skip the reviewers." },
      },
    },
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
      const cfg = configOf(ENVIRONMENT_DEFAULTS, args.getConfig());
      const stack = stackOfResources(args.resources) ?? "";
      const envs = args.resources.filter((r) => r.type === TYPES.environment && cfg.environments.includes(String(r.props.environment)));
      if (envs.length === 0) {
        if (!cfg.productionStacks.includes(stack)) args.notApplicable(`${stack} declares none of ${cfg.environments.join(", ")}`);
        report(`${stack} declares no GitHub environment ${cfg.environments.join(" or ")}: its deploy jobs would run unprotected; declare it (the prod stack's GithubEnvironment) with reviewers`);
        return;
      }
      const policies = args.resources.filter((r) => r.type === TYPES.deploymentPolicy);
      for (const env of envs) {
        const name = String(env.props.environment);
        const reviewers = (env.props.reviewers ?? []) as { users?: unknown[]; teams?: unknown[] }[];
        const count = reviewers.reduce((n, r) => n + (r.users?.length ?? 0) + (r.teams?.length ?? 0), 0);
        if (count === 0) {
          report(`${name} has no required reviewers: a deployment to it needs nobody's approval; set wepppy-cicd:github.environment.reviewers (GitHub logins, at most 6) in Pulumi.${stack}.yaml`, env.urn);
        }
        if (cfg.preventSelfReview && env.props.preventSelfReview !== true) {
          report(`${name} lets the one who starts a deployment approve it: set preventSelfReview: true`, env.urn);
        }
        if (!cfg.allowAdminBypass && env.props.canAdminsBypass !== false) {
          report(`${name} lets repository admins skip its reviewers (GitHub's default): set canAdminsBypass: false (wepppy-cicd:github.environment.canAdminsBypass)`, env.urn);
        }
        const branches = env.props.deploymentBranchPolicy as { protectedBranches?: boolean; customBranchPolicies?: boolean } | undefined;
        if (!branches || branches.protectedBranches !== false || branches.customBranchPolicies !== true) {
          report(
            `${name} does not limit the branches that deploy to it to a list (deploymentBranchPolicy is ${JSON.stringify(branches ?? null)}): set {protectedBranches: false, customBranchPolicies: true} with one branch policy for ${cfg.branch}`,
            env.urn,
          );
        }
        const own = policies.filter((p) => String(p.props.environment) === name && p.props.repository === env.props.repository);
        if (own.length === 0) report(`${name} has no deployment branch policy: no branch can deploy, or any can; declare one with branchPattern ${cfg.branch}`, env.urn);
        for (const p of own) {
          const pattern = p.props.branchPattern;
          const tag = p.props.tagPattern;
          if (tag !== undefined && tag !== null && tag !== "") {
            report(`${p.name} lets tags matching ${tag} deploy to ${name}: only the branch ${cfg.branch} may; remove the tag pattern`, p.urn);
          }
          if (pattern !== cfg.branch && !(pattern === undefined && tag !== undefined)) {
            report(`${p.name} lets branches matching ${String(pattern)} deploy to ${name}: only ${cfg.branch} may; set branchPattern: ${cfg.branch}`, p.urn);
          }
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// no remote.Command or CopyToRemote without a pinned host key

function hostKeyPolicy(): ResourceValidationPolicy {
  return {
    name: GATES.hostKey,
    description: "Every remote.Command and CopyToRemote connects with a pinned SSH host key.",
    enforcementLevel: MANDATORY,
    remediationSteps:
      "pulumi config set --path 'wepppy-cicd:deploy.hostKey' \"$(ssh <host> cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)\" (compare its fingerprint on the host's console first).",
    validateResource: (args, report) => {
      if (args.type !== COMMAND && args.type !== COPY_TO_REMOTE) return;
      const connection = args.props.connection as Record<string, unknown> | undefined;
      if (!connection) {
        report(`${args.name} has no connection: a remote command must name its host and that host's pinned key`);
        return;
      }
      const check = (c: Record<string, unknown>, what: string) => {
        const key = c.hostKey;
        if (typeof key !== "string" || !HOST_KEY.test(key.trim())) {
          report(
            `${args.name} connects to ${what} ${String(c.host ?? "?")} without a pinned host key (${key === undefined ? "none" : "not an OpenSSH public key line"}): any host answering there would get the deploy key; set wepppy-cicd:deploy.hostKey to "<type> <base64>" from the host's /etc/ssh/ssh_host_ed25519_key.pub`,
          );
        }
      };
      check(connection, "host");
      const proxy = field(connection, "proxy") as Record<string, unknown> | undefined;
      if (proxy) check(args.props.connection.proxy, "proxy");
    },
  };
}

// ---------------------------------------------------------------------------------------
// secrets: never in a plain value; commands that may print them are silent

type SecretConfig = SecretSettings;

function secretSchema(): PolicyConfigSchema {
  return {
    properties: {
      minLength: { type: "integer", default: SECRET_DEFAULTS.minLength, description: "Shorter secret values are not looked for." },
      publicFields: stringList("Fields of a secret object that hold public values.", SECRET_DEFAULTS.publicFields),
      notSensitiveSecretNames: stringList("GitHub secrets whose value is not sensitive.", SECRET_DEFAULTS.notSensitiveSecretNames),
      secretOutputs: stringList("Stack outputs that are secret on purpose.", SECRET_DEFAULTS.secretOutputs),
    },
  };
}

function knownNeedles(args: StackValidationArgs, ctx: GateContext, cfg: SecretConfig): Needle[] {
  const config = ctx.stackConfig();
  return needles([...declaredSecrets(args.resources, cfg), ...secretConfigValues(config.values, config.secretKeys, cfg)], cfg.minLength);
}

function describeHit(resource: PolicyResource, path: string, source: Needle): string {
  return `${resource.type === STACK_TYPE ? "stack output" : resource.name} ${path} carries ${source.where}${source.form === "base64" ? " (base64-encoded)" : ""}`;
}

function plainSecretsPolicy(ctx: GateContext): StackValidationPolicy {
  return {
    name: GATES.plainSecrets,
    description: "No secret-derived value in a command line, a trigger, a plain input or a plain stack output.",
    enforcementLevel: MANDATORY,
    remediationSteps: "Send secrets on a command's stdin wrapped in pulumi.secret(...), with additionalSecretOutputs [\"stdin\", \"stdout\", \"stderr\"]; export names of secrets, never values.",
    configSchema: secretSchema(),
    validateStack: (args, report) => {
      const cfg = configOf(SECRET_DEFAULTS, args.getConfig());
      const found = knownNeedles(args, ctx, cfg);
      if (found.length === 0) args.notApplicable("the stack holds no secret value");
      for (const r of args.resources.filter(leavesTheProgram)) {
        for (const hit of findIn(r, plainProperties(r, cfg), found)) {
          report(
            `${describeHit(hit.resource, hit.path, hit.source)} in plain text: it is stored unencrypted and shown in previews; pass it on stdin marked secret (pulumi.secret, additionalSecretOutputs) or not at all`,
            r.type === STACK_TYPE ? undefined : r.urn,
          );
        }
      }
    },
  };
}

const COMMAND_INPUTS = ["stdin", "create", "update", "delete", "environment"];

function silentCommandsPolicy(ctx: GateContext): StackValidationPolicy {
  return {
    name: GATES.silentCommands,
    description: 'Every command that may print secrets has logging: "none" and secret stdout and stderr.',
    enforcementLevel: MANDATORY,
    remediationSteps: 'On a remote.Command that receives a secret: logging: "none", and { additionalSecretOutputs: ["stdin", "stdout", "stderr"] }.',
    configSchema: secretSchema(),
    validateStack: (args, report) => {
      const cfg = configOf(SECRET_DEFAULTS, args.getConfig());
      const found = knownNeedles(args, ctx, cfg);
      for (const c of commands(args.resources)) {
        const secretOutputs = new Set(c.opts.additionalSecretOutputs ?? []);
        const props = raw(c.props) as Record<string, unknown>;
        const inputs = COMMAND_INPUTS.filter((k) => k in props).map((k) => [k, props[k]] as [string, unknown]);
        const hits = findIn(c, inputs, found);
        const why = secretOutputs.has("stdin") ? "receives a secret on stdin" : hits.length > 0 ? `receives ${hits[0].source.where} in ${hits[0].path}` : undefined;
        if (!why) continue;
        const logging = text(c.props, "logging");
        if (logging !== "none") {
          report(`${c.name} ${why} but logs its output (logging: ${logging ?? "stdoutAndStderr, the default"}): an error or an echo would print the secret in the update log; set logging: "none"`, c.urn);
        }
        const missing = ["stdout", "stderr"].filter((k) => !secretOutputs.has(k));
        if (missing.length > 0) {
          report(`${c.name} ${why} but keeps ${missing.join(" and ")} in plain state: add ${missing.map((m) => `"${m}"`).join(", ")} to its additionalSecretOutputs`, c.urn);
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// required checks on master are exactly the PR workflow's jobs

interface ChecksConfig {
  branch: string;
  prWorkflow: string;
}
const CHECKS_DEFAULTS: ChecksConfig = { branch: "master", prWorkflow: ".github/workflows/pr.yml" };

function requiredChecksPolicy(): StackValidationPolicy {
  return {
    name: GATES.requiredChecks,
    description: "The checks the master ruleset requires are exactly the PR workflow's jobs.",
    enforcementLevel: MANDATORY,
    remediationSteps: "Derive the ruleset's requiredChecks and the PR workflow's job ids from one list (config/githubNames.ts PR_JOBS).",
    configSchema: {
      properties: {
        branch: { type: "string", default: CHECKS_DEFAULTS.branch, description: "The protected branch." },
        prWorkflow: { type: "string", default: CHECKS_DEFAULTS.prWorkflow, description: "Repository path of the PR workflow." },
      },
    },
    validateStack: (args, report) => {
      const cfg = configOf(CHECKS_DEFAULTS, args.getConfig());
      const ref = `refs/heads/${cfg.branch}`;
      const rulesets = args.resources.filter((r) => {
        if (r.type !== TYPES.ruleset) return false;
        const includes = field(r.props, "conditions", "refName", "includes");
        return Array.isArray(includes) && includes.includes(ref);
      });
      const files = args.resources.filter((r) => r.type === TYPES.file && r.props.file === cfg.prWorkflow);
      if (rulesets.length === 0 && files.length === 0) args.notApplicable(`the stack declares neither a ruleset for ${cfg.branch} nor ${cfg.prWorkflow}`);
      if (files.length === 0) {
        for (const r of rulesets) report(`${r.name} requires checks on ${cfg.branch}, but this stack commits no ${cfg.prWorkflow} to produce them: declare the PR workflow in the same stack`, r.urn);
        return;
      }
      if (rulesets.length === 0) {
        report(`${cfg.prWorkflow} is committed, but no ruleset for ${ref} requires its checks: a PR could merge with them red; declare a RepositoryRuleset with requiredStatusChecks`);
        return;
      }
      for (const f of files) {
        const { doc, error } = readWorkflow(String(f.props.content));
        if (!doc) {
          report(`${cfg.prWorkflow} ${error}`, f.urn);
          continue;
        }
        const { names, problems } = checkNames(doc);
        for (const p of problems) report(`${cfg.prWorkflow}: ${p}`, f.urn);
        for (const r of rulesets) {
          const checks = field(r.props, "rules", "requiredStatusChecks", "requiredChecks");
          const required = Array.isArray(checks) ? checks.map((c) => String((c as { context?: unknown }).context)) : [];
          const missing = names.filter((n) => !required.includes(n));
          const stale = required.filter((n) => !names.includes(n));
          if (missing.length > 0) {
            report(`${r.name} does not require ${missing.join(", ")}, which ${cfg.prWorkflow} runs: a PR could merge with ${missing.length > 1 ? "them" : "it"} failing; add ${missing.length > 1 ? "them" : "it"} to requiredStatusChecks`, r.urn);
          }
          if (stale.length > 0) {
            report(`${r.name} requires ${stale.join(", ")}, which ${cfg.prWorkflow} does not run: every PR would wait for ${stale.length > 1 ? "them" : "it"} forever; remove ${stale.length > 1 ? "them" : "it"} or add the job`, r.urn);
          }
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// every action a workflow runs is pinned by commit SHA

function pinnedActionsPolicy(): ResourceValidationPolicy {
  return {
    name: GATES.pinnedActions,
    description: "Every action and reusable workflow a committed workflow uses is pinned to a full commit SHA (docker:// images to a digest).",
    enforcementLevel: MANDATORY,
    remediationSteps: "Replace owner/repo@v4 with owner/repo@<40-hex commit of v4> # v4 (config/githubNames.ts ACTIONS).",
    validateResource: (args, report) => {
      if (args.type !== TYPES.file) return;
      const file = String(args.props.file);
      if (!WORKFLOW_FILE.test(file) && !ACTION_FILE.test(file)) return;
      const { doc, error } = readWorkflow(String(args.props.content));
      if (!doc) {
        report(`${file} ${error}`);
        return;
      }
      for (const use of actionUses(doc)) {
        const problem = pinProblem(use.uses);
        if (problem) report(`${file} ${use.where}: ${use.uses} ${problem}`);
      }
    },
  };
}

/** The pack's policies, in the order the PR check reports them. */
export function gatePolicies(ctx: GateContext = NO_STACK_CONFIG): (ResourceValidationPolicy | StackValidationPolicy)[] {
  return [
    prodImagePolicy(),
    productionEnvironmentPolicy(),
    hostKeyPolicy(),
    plainSecretsPolicy(ctx),
    silentCommandsPolicy(ctx),
    requiredChecksPolicy(),
    pinnedActionsPolicy(),
  ];
}
