import * as pulumi from "@pulumi/pulumi";

export interface GithubRunnerArgs {
  owner: string;
  repository: string;
  name: string;
  /** Labels of the CI/deploy runner. */
  labels: string[];
  /** Labels of the image-building runner. */
  builderLabels: string[];
}

/**
 * The self-hosted runners the workflows ask for, as they must be registered on forest
 * (`config.sh --url ... --name ... --labels ...`; the registration token is fetched at
 * install time, it expires within the hour). Installing them on the host is the
 * deployment side's job; this declares the identity both sides read.
 */
export class GithubRunner extends pulumi.ComponentResource {
  readonly url: string;
  readonly name: string;
  readonly labels: string[];
  readonly builderLabels: string[];
  /** Labels passed to config.sh: GitHub adds self-hosted, the OS and the architecture itself. */
  readonly customLabels: string[];

  constructor(name: string, args: GithubRunnerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:github:GithubRunner", name, {}, opts);
    this.url = `https://github.com/${args.owner}/${args.repository}`;
    this.name = args.name;
    this.labels = [...args.labels];
    this.builderLabels = [...args.builderLabels];
    const builtin = new Set(["self-hosted", "linux", "x64"]);
    this.customLabels = this.labels.filter((l) => !builtin.has(l.toLowerCase()));
    this.registerOutputs({ url: this.url, name: this.name, labels: this.labels, builderLabels: this.builderLabels });
  }
}
