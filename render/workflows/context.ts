import { StackName } from "../../config/environments";

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
  runnerLabels: string[];
  builderLabels: string[];
  pulumi: { backendUrl: string; passphraseFile: string; version: string };
  /** The repository testprod pulls from: main pushes there. */
  imageRepository: string;
  nightlyCron: string;
  stacks: readonly StackName[];
  testprod: DeployTarget;
  prod: DeployTarget;
}
