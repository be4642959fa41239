import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ENVIRONMENTS, StackName } from "../config/environments";
import { loadStackConfig } from "../config/fromPulumi";
import { WeppcloudImage, IMAGE_OUTPUTS } from "./components/weppcloudImage";
import { WepppySecrets } from "./components/wepppySecrets";
import { ComposeDeployment } from "./components/composeDeployment";
import { GithubStackOutput, githubSide } from "./components/githubSide";
import { RunnerSideOutput, runnerSide } from "./components/runnerHost";
import { colourImages, digestOf } from "../render/bluegreen/colours";
import { blueGreenFiles } from "../render/bluegreen/files";
import { readComposeDocument, secretsInDirectory } from "../render/composeFile";
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
  /** Blue/green: the live colour and each colour's image; null when off. */
  bluegreen: pulumi.Output<{ live: string; images: { blue: string; green: string } }> | null;
  /** The release this update carried (id, and for prod its tag and version). */
  release: { id: string; tag?: string; version?: string } | null;
}

/** One stack of the pipeline: everything an environment (dev, testprod, prod) declares. */
export async function wepppyStack(): Promise<WepppyStackOutputs> {
  const { stack, config } = loadStackConfig();
  const facts = ENVIRONMENTS[stack as StackName];
  const sourceDir = path.resolve(PROJECT_ROOT, config.compose.sourceDir);
  const composeDocs = config.compose.files.map((f) => readComposeDocument(path.join(sourceDir, f)));
  const secretNames = [...new Set(composeDocs.flatMap((doc) => secretsInDirectory(doc).map((s) => s.name)))];

  const image = new WeppcloudImage("weppcloud-image", { image: config.image });
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
  const colours = bg ? image.ref.apply((ref) => colourImages(config.bluegreen, ref)) : undefined;
  // What the stack runs is its live colour's image; promotion reads these outputs.
  const liveRef = colours ? colours.liveImage : image.ref;
  const liveDigest = colours ? colours.liveImage.apply(digestOf) : image.digest;

  let deployed: pulumi.Output<string> | string;
  if (config.deploy.hostKey && config.deployKey) {
    const deployment = new ComposeDeployment(`${stack}-compose`, {
      stack: stack as StackName,
      config,
      sourceDir,
      composeDocs,
      imageRef: liveRef,
      secretValues: secrets.values,
      hotfixReason: image.hotfixReason,
      bluegreen: bg && colours ? { ...bg, images: colours } : undefined,
    });
    deployed = deployment.liveImage;
  } else if (pulumi.runtime.isDryRun()) {
    deployed = "nothing: deploy.hostKey and deployKey are not set";
    pulumi.log.warn(`${deployed}; \`pulumi up\` will refuse to run until they are (see README: With the Pulumi CLI)`);
  } else {
    throw new Error(
      `${stack}: cannot deploy to ${config.deploy.host}: set wepppy-cicd:deploy.hostKey (the host's pinned SSH key) and wepppy-cicd:deployKey (secret) first`,
    );
  }

  return {
    environment: stack,
    title: facts.title,
    githubEnvironment: facts.githubEnvironment,
    url: `https://${config.site.domain}`,
    host: config.deploy.host,
    composeFiles: config.compose.files,
    imageSource: image.source,
    [IMAGE_OUTPUTS.ref]: liveRef,
    [IMAGE_OUTPUTS.digest]: liveDigest,
    promotedFrom: image.promotedFrom,
    hotfix: image.hotfixReason,
    generatedSecrets: secrets.generated,
    github,
    runners,
    deployed,
    bluegreen: colours ? colours.apply((c) => ({ live: c.live, images: { blue: c.blue, green: c.green } })) : null,
    release: config.release ? { id: config.release.id, tag: config.release.tag, version: config.release.version } : null,
  };
}
