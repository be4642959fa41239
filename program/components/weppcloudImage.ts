import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, StackName } from "../../config/environments";
import { ImageConfig, StackConfig } from "../../config/schema";
import { registryOf } from "../../render/images";

export interface WeppcloudImageArgs {
  image: ImageConfig;
  /** Credentials for the digest lookup (the registry the image is pulled from). */
  registry?: StackConfig["registry"];
}

/** Stack outputs that tell another stack what this one runs; promotion reads them. */
export const IMAGE_OUTPUTS = { ref: "imageRef", digest: "imageDigest" } as const;

/**
 * Decides which weppcloud image an environment runs, as an immutable reference where
 * one exists: a registry tag is pinned to the digest it has now; a promoted stack runs
 * the digest its config names (set by `wepppy-cicd promote` or `rollback`), never
 * whatever the source stack happens to run when someone types `pulumi up`.
 */
export class WeppcloudImage extends pulumi.ComponentResource {
  /** What the environment must have live: `<repository>@sha256:...`, or the build it comes from. */
  readonly ref: pulumi.Output<string>;
  /** `sha256:...`; empty for an image built on the host (known only after the build). */
  readonly digest: pulumi.Output<string>;
  readonly source: ImageConfig["source"];
  readonly promotedFrom?: StackName;
  readonly hotfixReason?: string;
  /** Promoted stacks: the image the source stack has live now (what `promote` would bring). */
  readonly sourceLive?: pulumi.Output<string>;

  constructor(name: string, args: WeppcloudImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:index:WeppcloudImage", name, {}, opts);
    const image = args.image;
    this.source = image.source;
    if (image.source === "build") {
      this.ref = pulumi.output(`build:${image.checkout}#${image.ref}`);
      this.digest = pulumi.output("");
    } else if (image.source === "registry" || image.hotfix) {
      const { repository, tag } = image.source === "registry" ? image : image.hotfix!;
      const found = docker.getRegistryImageOutput({ name: `${repository}:${tag}` }, { parent: this, provider: this.registryProvider(name, repository, args.registry) });
      this.digest = found.sha256Digest;
      this.ref = pulumi.interpolate`${repository}@${found.sha256Digest}`;
      if (image.source === "promoted") this.hotfixReason = image.hotfix!.reason;
    } else if (image.digest) {
      this.ref = pulumi.output(image.digest);
      this.digest = pulumi.output(image.digest.slice(image.digest.indexOf("@") + 1));
    } else if (pulumi.runtime.isDryRun()) {
      // A preview from a checkout that has not restored the release state shows what a
      // promotion would bring; an update refuses below.
      this.promotedFrom = image.from;
      const from = new pulumi.StackReference(`${name}-from-${image.from}`, { name: `${pulumi.getOrganization()}/${PROJECT}/${image.from}` }, { parent: this });
      this.sourceLive = from.getOutput(IMAGE_OUTPUTS.ref).apply((v) => (typeof v === "string" ? v : ""));
      this.ref = pulumi.output("");
      this.digest = pulumi.output("");
      pulumi.log.warn(`${pulumi.getStack()}: no image.digest in this checkout: \`pulumi up\` would refuse; run \`wepppy-cicd config sync -s ${pulumi.getStack()}\` first (this preview shows what ${image.from} has live)`, this);
    } else {
      throw new Error(
        `${pulumi.getStack()} runs only a digest promoted explicitly, and wepppy-cicd:image.digest is not set in this checkout: run \`wepppy-cicd promote\`, or restore the last release with \`wepppy-cicd config sync -s ${pulumi.getStack()}\` first; nothing was changed`,
      );
    }
    if (image.source === "promoted") this.promotedFrom = image.from;
    this.registerOutputs({ ref: this.ref, digest: this.digest });
  }

  /** The docker provider the digest lookup goes through: with the registry's credentials, else anonymous. */
  private registryProvider(name: string, repository: string, registry: StackConfig["registry"]): docker.Provider | undefined {
    if (!registry) return undefined;
    return new docker.Provider(
      `${name}-registry`,
      {
        // The lookup authenticates only with the provider's registryAuth (kreuzwerker getAuthConfigForRegistry).
        registryAuth: [{ address: registryOf(repository), username: registry.username, password: pulumi.secret(registry.password) }],
        disableDockerDaemonCheck: true,
      },
      // Typed as ResourceOptions, but passed on to the registration as for any custom resource.
      { parent: this, additionalSecretOutputs: ["registryAuth"] } as pulumi.CustomResourceOptions,
    );
  }
}
