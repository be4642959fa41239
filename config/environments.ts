/*
 * The names every part of the pipeline shares. Each is written here once; the stack
 * files, GitHub environments, workflows, runner labels and outputs derive from these.
 */

/** The Pulumi project name; Pulumi.yaml's `name` must match (a test checks). */
export const PROJECT = "wepppy-cicd";

/** Config namespace of every key this program reads, e.g. `wepppy-cicd:deploy`. */
export const NAMESPACE = PROJECT;

export const STACKS = ["dev", "testprod", "prod"] as const;
export type StackName = (typeof STACKS)[number];

export interface EnvironmentFacts {
  /** Human name used in logs and the README. */
  title: string;
  /** GitHub deployment environment, where the stack has one. */
  githubEnvironment?: string;
}

export const ENVIRONMENTS: Record<StackName, EnvironmentFacts> = {
  dev: { title: "Development" },
  testprod: { title: "Test production", githubEnvironment: "test-production" },
  prod: { title: "Production", githubEnvironment: "production" },
};

/** The stack whose live image prod may run: promotion reads it through a StackReference. */
export const PROMOTION_SOURCE: StackName = "testprod";

export function isStackName(name: string): name is StackName {
  return (STACKS as readonly string[]).includes(name);
}

/** Where a stack's settings live, as Pulumi names the file. */
export function stackFileName(stack: string): string {
  return `Pulumi.${stack}.yaml`;
}
