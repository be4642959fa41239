import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, StackName } from "../../config/environments";
import { ImageConfig } from "../../config/schema";

export interface WeppcloudImageArgs {
  image: ImageConfig;
}

/** Stack outputs that tell another stack what this one runs; promotion reads them. */
export const IMAGE_OUTPUTS = { ref: "imageRef", digest: "imageDigest" } as const;

/**
 * Decides which weppcloud image an environment runs, as an immutable reference where
 * one exists: a registry tag is pinned to the digest it has now, and a promotion takes
 * the digest the source stack has live, so prod can only run what testprod ran.
 */
export class WeppcloudImage extends pulumi.ComponentResource {
  /** What WEPPCLOUD_IMAGE is set to: `<repository>@sha256:...`, or the build it comes from. */
  readonly ref: pulumi.Output<string>;
  /** `sha256:...`; empty for an image built on the host (known only after the build). */
  readonly digest: pulumi.Output<string>;
  readonly source: ImageConfig["source"];
  readonly promotedFrom?: StackName;
  readonly hotfixReason?: string;

  constructor(name: string, args: WeppcloudImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:index:WeppcloudImage", name, {}, opts);
    const image = args.image;
    this.source = image.source;
    if (image.source === "build") {
      this.ref = pulumi.output(`build:${image.checkout}#${image.ref}`);
      this.digest = pulumi.output("");
    } else if (image.source === "registry" || image.hotfix) {
      const { repository, tag } = image.source === "registry" ? image : image.hotfix!;
      const found = docker.getRegistryImageOutput({ name: `${repository}:${tag}` }, { parent: this });
      this.digest = found.sha256Digest;
      this.ref = pulumi.interpolate`${repository}@${found.sha256Digest}`;
      if (image.source === "promoted") this.hotfixReason = image.hotfix!.reason;
    } else {
      this.promotedFrom = image.from;
      const from = new pulumi.StackReference(
        `${name}-from-${image.from}`,
        { name: `${pulumi.getOrganization()}/${PROJECT}/${image.from}` },
        { parent: this },
      );
      this.ref = from.requireOutput(IMAGE_OUTPUTS.ref) as pulumi.Output<string>;
      this.digest = from.requireOutput(IMAGE_OUTPUTS.digest) as pulumi.Output<string>;
    }
    this.registerOutputs({ ref: this.ref, digest: this.digest });
  }
}
