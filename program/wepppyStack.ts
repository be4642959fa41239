import { releaseSource } from "./releaseSource";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ENVIRONMENTS, StackName } from "../config/environments";
import { loadStackConfig } from "../config/fromPulumi";
import { WeppcloudImage, IMAGE_OUTPUTS } from "./components/weppcloudImage";
import { WepppySecrets } from "./components/wepppySecrets";
import { ComposeDeployment } from "./components/composeDeployment";
import { GithubStackOutput, githubSide } from "./components/githubSide";
import { RunnerSideOutput, runnerSide } from "./components/runnerHost";
import { digestOf } from "../render/images";
import { blueGreenFiles } from "../render/bluegreen/files";
import { readComposeDocument } from "../render/composeFile";
import { checkLayoutFor, checkSupply, composeLayout, stackSecretNames, unsetIssued } from "../render/composeLayout";
import { releaseEnvTemplate } from "../render/deploySettings";
import { readEnvText } from "../render/envFile";
import { PROJECT_ROOT } from "../config/paths";

/** What `pulumi stack output --json` shows; agents and the CLI read these names. */
export interface WepppyStackOutputs {
  environment: string;
  title: string;
  githubEnvironment: string | undefined;
  url: string;
  host: string;
  composeFiles: string[];
  imageSource: string;
  [IMAGE_OUTPUTS.ref]: pulumi.Output<string>;
  [IMAGE_OUTPUTS.digest]: pulumi.Output<string>;
  promotedFrom: string | undefined;
  hotfix: string | undefined;
  generatedSecrets: string[];
  github: GithubStackOutput;
  /** dev: the runner host (runners, labels, health command); an environment stack: the deploy key's access to its host. */
  runners: RunnerSideOutput;
  /** The image the host reports live, or why nothing is deployed yet. */
  deployed: pulumi.Output<string> | string;
  /** Blue/green: the live colour and each colour's image as the host reports them; null when off. */
  bluegreen: pulumi.Output<{ live: string; images: { blue: string; green: string } } | null> | null;
  /** Promoted stacks: what the source stack has live now (what `wepppy-cicd promote` would bring). */
  sourceLive: pulumi.Output<string> | null;
  /** The release this update carried (id, and for prod its tag and version). */
  release: { id: string; tag?: string; version?: string } | null;
}

/** One stack of the pipeline: everything an environment (dev, testprod, prod) declares. */
export async function wepppyStack(): Promise<WepppyStackOutputs> {
  const { stack, config } = loadStackConfig();
  const facts = ENVIRONMENTS[stack as StackName];
  // The release's own files: those of its image's commit where compose.sourceAt says so.
  const source = releaseSource(config, path.resolve(PROJECT_ROOT, config.compose.sourceDir));
  const sourceDir = source.dir;
  const composeDocs = config.compose.files.map((f) => readComposeDocument(path.join(sourceDir, f)));
  // Today's layout reads secret files, older releases read them from .env: the same stack secrets feed either.
  const layout = composeLayout(config.compose.files.map((name, i) => ({ name, doc: composeDocs[i] })));
  checkLayoutFor(layout, { bluegreen: config.bluegreen.enabled });
  const secretNames = stackSecretNames(layout);
  const deploys = config.image.source !== "build" && !!config.deploy.hostKey && !!config.deployKey;
  const defaultsFile = path.join(sourceDir, "defaults.env");
  // dev's host build deploys nothing, so it has no env template.
  const envTemplate = config.image.source === "build" ? "" : releaseEnvTemplate(config, composeDocs, fs.existsSync(defaultsFile) ? fs.readFileSync(defaultsFile, "utf8") : "");
  // A preview without the deploy key (a pull request's) judges the release's files too.
  if (config.image.source !== "build") {
    // Before any resource: a compose file needing what the stack cannot give is refused with no host command run.
    const empty = unsetIssued(secretNames, config.secrets);
    const unset = checkSupply(layout, { env: readEnvText(envTemplate).values, secrets: secretNames.filter((n) => !empty.includes(n)), emptySecrets: empty });
    if (unset.length > 0) {
      const names = [...new Set(unset.map((u) => u.variable))];
      pulumi.log.warn(`the compose files use ${names.join(", ")} with no default, and the stack sets none: compose will run with them empty (set them in wepppy-cicd:compose.env; \`wepppy-cicd adopt\` takes them from a live host's .env)`);
    }
  }

  const image = new WeppcloudImage("weppcloud-image", { image: config.image, registry: config.registry });
  const secrets = new WepppySecrets("wepppy-secrets", { names: secretNames, provided: config.secrets });
  const github = githubSide({
    stack: stack as StackName,
    github: config.github,
    runner: config.runner,
    hostSecrets: secrets.values,
    secretConfig: { deployKey: config.deployKey, registry: config.registry, secrets: config.secrets },
  });

  const runners = runnerSide(stack as StackName, config);

  const bg = config.bluegreen.enabled ? blueGreenFiles(config, sourceDir, composeDocs[0]) : undefined;

  let deployed: pulumi.Output<string> | string;
  let colours: pulumi.Output<{ live: string; images: { blue: string; green: string } } | null> | null = null;
  if (config.image.source === "build") {
    // dev runs the developer's own checkout on forest (wctl): the stack never resets, detaches or
    // rebuilds it; it declares the runner host and the GitHub side.
    deployed = `by hand: the developer's checkout ${config.image.checkout} (wctl)`;
  } else if (deploys) {
    const deployment = new ComposeDeployment(`${stack}-compose`, {
      stack: stack as StackName,
      config,
      sourceDir,
      composeDocs,
      imageRef: image.ref,
      secretValues: secrets.values,
      composeLayout: layout,
      envTemplate,
      hotfixReason: image.hotfixReason,
      bluegreen: bg,
    });
    deployed = deployment.liveImage;
    colours = deployment.colours.apply((c) => (c ? { live: c.live, images: { blue: c.blue, green: c.green } } : null));
  } else if (pulumi.runtime.isDryRun()) {
    deployed = "nothing: deploy.hostKey and deployKey are not set";
    pulumi.log.warn(`${deployed}; \`pulumi up\` will refuse to run until they are (see README: With the Pulumi CLI)`);
  } else {
    throw new Error(
      `${stack}: cannot deploy to ${config.deploy.host}: set wepppy-cicd:deploy.hostKey (the host's pinned SSH key) and wepppy-cicd:deployKey (secret) first`,
    );
  }

  // What the host reported live; what the stack declares when nothing is deployed or the host said nothing.
  const liveRef = typeof deployed === "string" ? image.ref : pulumi.all([deployed, image.ref]).apply(([d, declared]) => d || declared);
  return {
    environment: stack,
    title: facts.title,
    githubEnvironment: facts.githubEnvironment,
    url: `https://${config.site.domain}`,
    host: config.deploy.host,
    composeFiles: config.compose.files,
    imageSource: image.source,
    // What the host reports live (it is what promotion reads), or what the stack declares before any deploy.
    [IMAGE_OUTPUTS.ref]: liveRef,
    [IMAGE_OUTPUTS.digest]: liveRef.apply((r) => digestOf(r) || ""),
    promotedFrom: image.promotedFrom,
    hotfix: image.hotfixReason,
    generatedSecrets: secrets.generated,
    github,
    runners,
    deployed,
    bluegreen: colours,
    sourceLive: image.sourceLive ?? null,
    release: config.release ? { id: config.release.id, tag: config.release.tag, version: config.release.version } : null,
  };
}
