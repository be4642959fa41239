import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { remote, types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { StackName } from "../../config/environments";
import { HOST_SCRIPT, ROOT_HELPER } from "../../config/paths";
import { StackConfig } from "../../config/schema";
import { AGENT_DOCKERFILE, agentImageTag, buildAgentBundle } from "../../host/agent/bundle";
import { DeployVerdict } from "../../host/contract/records";
import { serializeDeploySettings } from "../../host/contract/settings";
import { stageRelease } from "../../host/contract/staging";
import { BlueGreenFiles } from "../../render/bluegreen/files";
import { BLUEGREEN } from "../../render/bluegreen/constants";
import { ColourImages } from "../../render/bluegreen/colours";
import { relativeMounts, serviceNames } from "../../render/composeFile";
import { renderDeployRequest, renderDeploySettings, soakAccessLog, validationListener } from "../../render/deploySettings";
import { ComposeLayout, layoutSecretValues } from "../../render/composeLayout";
import { VALIDATION_COMPOSE_FILE, validationComposeDoc, withValidationListener } from "../../render/caddyValidation";
import { composeYaml } from "../../render/bluegreen/compose";
import { withAccessLog } from "../../render/bluegreen/caddyfile";
import { caddyfileSource } from "../../render/bluegreen/files";
import * as host from "../../render/hostCommands";
import { registryOf } from "../../render/images";

export interface ComposeDeploymentArgs {
  stack: StackName;
  config: StackConfig;
  /** Absolute directory holding wepppy's docker/ files on the machine running Pulumi. */
  sourceDir: string;
  /** The parsed compose files, in `-f` order. */
  composeDocs: Record<string, unknown>[];
  /** The image that must be live (digest-pinned where there is a digest); on blue/green the host picks its colour. */
  imageRef: pulumi.Output<string>;
  /** Stack secret name -> value (every secret the layout reads). */
  secretValues: pulumi.Output<Record<string, string>>;
  /** The release's compose layout: whether it reads those secrets as files in secrets/ or from .env. */
  composeLayout: ComposeLayout;
  /** The release's env template (render/deploySettings.ts releaseEnvTemplate): wepppy's defaults.env with the stack's values. */
  envTemplate: string;
  /** Set when prod runs a hotfix testprod has not run; recorded by the deploy. */
  hotfixReason?: string;
  /** Blue/green: the generated compose file and Caddyfile. */
  bluegreen?: BlueGreenFiles;
}

/** The generated compose file the host runs instead of wepppy's when blue/green is on. */
export const BLUEGREEN_COMPOSE_FILE = BLUEGREEN.composeFile;

function sha256(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

function executable(file: string): boolean {
  return (fs.statSync(file).mode & 0o111) !== 0;
}

function resourceName(file: string): string {
  return file.replace(/[^A-Za-z0-9.-]/g, "-");
}

/**
 * One environment's wepppy compose stack on its host, over SSH with a pinned host key, run
 * by the host agent (host/agent): the agent, its image and its bootstrap are installed; the
 * release's files (compose files, what they mount, the host settings, the env template) are
 * staged in their own directory on the host; the secrets are written; and the deploy hands
 * the agent a request naming only the image that must be live and the staged release. The
 * agent decides the rest on the host (which colour, what a changed secret recreates), runs
 * detached from the SSH session, and prints its verdict, from which the outputs come.
 */
export class ComposeDeployment extends pulumi.ComponentResource {
  readonly layout: host.HostLayout;
  /** The image the host reports live after the deploy. */
  readonly liveImage: pulumi.Output<string>;
  /** Blue/green: the colours as the host reports them after the deploy. */
  readonly colours: pulumi.Output<ColourImages | null>;
  readonly copiedFiles: string[];
  /** The staged release's key (a digest of its files). */
  readonly releaseKey: string;

  constructor(name: string, args: ComposeDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:index:ComposeDeployment", name, {}, opts);
    const { config } = args;
    const deploy = config.deploy;
    if (!deploy.hostKey || !config.deployKey) {
      throw new Error(
        `ComposeDeployment ${name}: deploy.hostKey and deployKey must both be set to deploy (the host key is pinned; connections without it are refused)`,
      );
    }
    if (config.image.source === "build") {
      throw new Error(`ComposeDeployment ${name}: a host build (image.source "build") is the developer's own checkout, which the stack leaves alone`);
    }
    const layout = host.hostLayout(deploy.root, config.compose.projectDir);
    this.layout = layout;
    const connection: types.input.remote.ConnectionArgs = {
      host: deploy.address ?? deploy.host,
      port: deploy.sshPort,
      user: deploy.sshUser,
      hostKey: deploy.hostKey,
      privateKey: pulumi.secret(config.deployKey),
      // The provider's own default: an sshd under load sheds connections past MaxStartups (10 unauthenticated), and the engine runs up to 4 per core at once.
      dialErrorLimit: 10,
      perDialTimeout: 15,
    };
    const child = { parent: this };
    // A connection change is an Update, and an Update of a copy copies nothing unless the
    // file changed (copyController.go:148): a moved or rebuilt host would get none of the
    // files. The host's identity in the triggers of setup and copies replaces them instead.
    const target = `${connection.user}@${connection.host}:${connection.port} ${deploy.hostKey}`;
    const copy = (id: string, source: pulumi.asset.Asset, remotePath: string, content: string | Uint8Array, after: pulumi.Resource[]) =>
      new remote.CopyToRemote(`${name}-${id}`, { connection, source, remotePath, triggers: [target, sha256(content)] }, { ...child, dependsOn: after });

    // What the compose files read from beside themselves.
    const wanted = [...config.compose.files, ...args.composeDocs.flatMap(relativeMounts), "defaults.env"];
    this.copiedFiles = [...new Set(wanted)].filter((file) => {
      const local = path.join(args.sourceDir, file);
      if (fs.existsSync(local) && fs.statSync(local).isFile()) return true;
      pulumi.log.warn(`${file} is mounted by the compose files but is not a file in ${args.sourceDir}; the host's own copy is used`, this);
      return false;
    });

    const setup = new remote.Command(
      `${name}-setup`,
      { connection, create: host.agentSetupCommand(layout, deploy.sshUser, [layout.markerDir, layout.accessLogDir, path.posix.join(layout.root, "agent")]), triggers: [target] },
      child,
    );
    const scriptText = fs.readFileSync(HOST_SCRIPT);
    const rootText = fs.readFileSync(ROOT_HELPER);
    const bundle = buildAgentBundle();
    const dockerfile = fs.readFileSync(AGENT_DOCKERFILE);
    const script = copy("script", new pulumi.asset.FileAsset(HOST_SCRIPT), layout.script, scriptText, [setup]);
    const rootHelper = copy("root-helper", new pulumi.asset.FileAsset(ROOT_HELPER), layout.rootHelper, rootText, [setup]);
    const agentFile = copy("agent", new pulumi.asset.StringAsset(bundle.code), layout.agentBundle, bundle.code, [setup]);
    const agentDockerfile = copy("agent-dockerfile", new pulumi.asset.FileAsset(AGENT_DOCKERFILE), path.posix.join(layout.root, "agent", "Dockerfile"), dockerfile, [setup]);

    // The agent's image, built on the host unless it has it (the tag is the Dockerfile's, base's and build args' digest).
    const buildArgs: Record<string, string> = config.agent.composePlugin ? { COMPOSE_PLUGIN_URL: config.agent.composePlugin.url, COMPOSE_PLUGIN_SHA256: config.agent.composePlugin.sha256 } : {};
    const imageTag = agentImageTag(config.agent.base, buildArgs);
    const agentImage = new remote.Command(
      `${name}-agent-image`,
      { connection, create: host.ensureAgentImageCommand(layout, imageTag, config.agent.base, buildArgs), triggers: [target, imageTag] },
      { ...child, dependsOn: [agentDockerfile] },
    );
    const agentConf = new remote.Command(
      `${name}-agent-conf`,
      {
        connection,
        create: host.agentInstallFileCommand(layout, layout.agentConf),
        stdin: host.renderAgentConf({ image: imageTag, mounts: host.agentMounts(layout), projectDir: layout.projectDir }),
        triggers: [target],
      },
      { ...child, dependsOn: [rootHelper] },
    );

    // The release, staged in its own directory: current on the host only once its deploy succeeds.
    const bg = args.bluegreen;
    // One colour: wepppy's Caddyfile gets the validation listener where the test-support API is on,
    // and the JSON access log the soak reads (blue/green's generated Caddyfile has both already).
    const soakLog = bg ? null : soakAccessLog(args.stack, config, args.composeDocs, false);
    const listener = validationListener(config, args.composeDocs);
    const caddyDoc = args.composeDocs.find((d) => serviceNames(d).includes(BLUEGREEN.caddyService));
    const caddyfile = !bg && caddyDoc && (soakLog || listener) ? path.posix.normalize(caddyfileSource(caddyDoc)) : undefined;
    const project = [
      ...this.copiedFiles.map((file) => {
        const local = path.join(args.sourceDir, file);
        if (file !== caddyfile) return { path: file, content: fs.readFileSync(local), local };
        let text = fs.readFileSync(local, "utf8");
        if (listener) text = withValidationListener(text, { sitePrefix: config.site.sitePrefix });
        if (soakLog) {
          const logged = withAccessLog(text, soakLog.path);
          for (const w of logged.warnings) pulumi.log.warn(`soak: ${w}`, this);
          text = logged.caddyfile;
        }
        return { path: file, content: Buffer.from(text), local: undefined };
      }),
      ...(bg
        ? [
            { path: BLUEGREEN.composeFile, content: Buffer.from(bg.composeYaml), local: undefined },
            { path: bg.caddyfilePath, content: Buffer.from(bg.caddyfile), local: undefined },
          ]
        : []),
      ...(listener ? [{ path: VALIDATION_COMPOSE_FILE, content: Buffer.from(composeYaml(validationComposeDoc(listener.hostPort, caddyDoc?.version))), local: undefined }] : []),
    ];
    const settings = serializeDeploySettings(renderDeploySettings({ stack: args.stack, config, composeDocs: args.composeDocs, bluegreen: bg ? { composeDoc: bg.composeDoc } : undefined }));
    const staged = stageRelease(layout, { project: project.map((p) => ({ path: p.path, content: p.content })), settings, envTemplate: args.envTemplate });
    this.releaseKey = staged.key;
    const stagedCopies: pulumi.Resource[] = [];
    const modes: Array<{ path: string; mode: "0755" | "0644" }> = [];
    for (const file of staged.files.slice(0, -1)) {
      const local = project.find((p) => file.target.endsWith(`/project/${p.path}`))?.local;
      const id = `staged-${resourceName(path.posix.relative(path.posix.join(layout.releasesDir, staged.key), file.target))}`;
      const asset = local ? new pulumi.asset.FileAsset(local) : new pulumi.asset.StringAsset(Buffer.from(file.content).toString("utf8"));
      stagedCopies.push(copy(id, asset, file.target, file.content, [setup]));
      modes.push({ path: file.target, mode: local && executable(local) ? "0755" : "0644" });
    }
    // SFTP creates new files 0644 whatever their local mode (and keeps an existing file's); the
    // agent keeps each staged file's mode, and wepppy runs some directly (redis-entrypoint.sh).
    const fileModes = new remote.Command(
      `${name}-file-modes`,
      { connection, create: host.fileModesCommand(modes), triggers: [target, staged.key] },
      { ...child, dependsOn: stagedCopies },
    );
    const manifest = staged.files[staged.files.length - 1];
    const manifestCopy = copy("staged-manifest", new pulumi.asset.StringAsset(String(manifest.content)), manifest.target, manifest.content, [fileModes]);

    const secretsDigest = pulumi.secret(args.secretValues.apply((v) => sha256(host.secretsStream(v))));
    // Today's layout reads the secrets as files, an older one the same secrets from .env: each gets what it reads.
    const delivered = args.secretValues.apply((v) => layoutSecretValues(args.composeLayout, v));
    const secretsCommand = new remote.Command(
      `${name}-secrets`,
      {
        connection,
        create: host.agentWriteSecretsCommand(layout, config.runAs),
        stdin: pulumi.secret(delivered.apply((d) => host.secretsStream(d.files))),
        logging: "none",
      },
      { ...child, dependsOn: [rootHelper, agentConf], additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
    );
    // Written for every layout (empty for today's), so a release moving to secret files leaves none in .env.
    const envSecretsCommand = new remote.Command(
      `${name}-env-secrets`,
      {
        connection,
        create: host.agentWriteEnvSecretsCommand(layout),
        stdin: pulumi.secret(delivered.apply((d) => host.envSecretsText(d.env))),
        logging: "none",
      },
      { ...child, dependsOn: [rootHelper, agentConf], additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
    );

    const before: pulumi.Resource[] = [script, agentFile, agentImage, agentConf, manifestCopy, secretsCommand, envSecretsCommand];
    if (config.registry) {
      // The registry of the image actually pulled: for prod, the one testprod's digest lives in.
      const server = args.imageRef.apply(registryOf);
      before.push(
        new remote.Command(
          `${name}-registry-login`,
          {
            connection,
            create: server.apply((s) => host.registryLoginCommand(s, config.registry!.username)),
            stdin: pulumi.secret(config.registry.password),
            logging: "none",
          },
          { ...child, dependsOn: [setup], additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
        ),
      );
    }
    // Declared for every schedule ("none" removes the timer) and never deleted by the stack: a
    // delete runs over the old state's connection, which on a moved or rebuilt host is refused
    // (the old host key) and would fail the update before anything new is installed.
    before.push(
      new remote.Command(
        `${name}-backup-schedule`,
        {
          connection,
          create: host.agentInstallTimerCommand(layout, config.backup.schedule, deploy.sshUser, args.stack),
          triggers: [target, config.backup.schedule, sha256(rootText)],
        },
        { ...child, dependsOn: [rootHelper, agentConf] },
      ),
    );

    const request = args.imageRef.apply((image) =>
      JSON.stringify(renderDeployRequest({ image, releaseKey: staged.key, release: config.release ?? null, hotfix: args.hotfixReason, skipSmoke: config.health.skipSmoke })),
    );
    const run = new remote.Command(
      `${name}-deploy`,
      {
        connection,
        create: host.agentDeployCommand(layout),
        stdin: request,
        // The secrets command's stdin change is an Update that keeps its id, so its id says
        // nothing about a rotation: a digest of the secret values does, kept secret itself.
        triggers: [request, bundle.sha256, imageTag, secretsDigest, sha256(scriptText), target],
      },
      // Progress lines may quote the app: kept out of plain outputs.
      { ...child, dependsOn: before, additionalSecretOutputs: ["stderr"] },
    );
    // dockerd runs the agent's recover at every start (a reboot, a dockerd restart): the host comes back by itself.
    new remote.Command(
      `${name}-boot-hook`,
      { connection, create: host.agentBootHookCommand(layout), triggers: [target, imageTag, bundle.sha256] },
      { ...child, dependsOn: [run] },
    );
    const verdict = run.stdout.apply((out): DeployVerdict | undefined => (out ? host.parseVerdict(out) : undefined));
    this.liveImage = verdict.apply((v) => v?.liveImage ?? v?.image ?? "");
    this.colours = verdict.apply((v) => (v?.live && v.images ? { live: v.live, blue: v.images.blue, green: v.images.green } : null));
    this.registerOutputs({ liveImage: this.liveImage, colours: this.colours, releaseKey: staged.key });
  }
}
