import { StackName } from "../../config/environments";
import { JobLabels } from "../../config/runnerNames";

/** What one deployment environment's jobs need to know, read from that stack's own config. */
export interface DeployTarget {
  stack: StackName;
  githubEnvironment: string;
  /** https://<site.domain> */
  url: string;
  /** health.smokePages: app pages behind Caddy's proxy (Caddy answers /health itself, which proves nothing). */
  smokePages: string[];
  tries: number;
  intervalSeconds: number;
}

/** Everything the generated workflows are made from; nothing in them is typed elsewhere. */
export interface WorkflowContext {
  owner: string;
  repository: string;
  branch: string;
  cicdRepository: string;
  cicdRef: string;
  /** What each kind of job asks for: ci (pull request code), builder (image builds), deploy (protected environments only). */
  labels: JobLabels;
  pulumi: { backendUrl: string; version: string };
  /** The environment the nightly drift checks run in (read-only credentials, protected branch). */
  driftEnvironment: string;
  /** The repository testprod pulls from: main pushes there. */
  imageRepository: string;
  nightlyCron: string;
  stacks: readonly StackName[];
  testprod: DeployTarget;
  prod: DeployTarget;
}
