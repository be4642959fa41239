/*
 * The subset of GitHub's workflow syntax the generators use, typed so that a
 * misspelt key is a compile error rather than a workflow GitHub ignores.
 */

export type Expression = string;

export interface Step {
  id?: string;
  name: string;
  if?: Expression;
  uses?: string;
  with?: Record<string, string | number | boolean>;
  run?: string;
  shell?: "bash";
  env?: Record<string, string>;
  "working-directory"?: string;
  "continue-on-error"?: boolean;
}

export type Permission = "read" | "write" | "none";
export type Permissions = Partial<
  Record<"contents" | "packages" | "pull-requests" | "security-events" | "actions" | "checks" | "deployments", Permission>
>;

export interface Job {
  /** Left unset on purpose: a job without a name is reported as a check under its id. */
  name?: never;
  "runs-on": string[];
  needs?: string[];
  if?: Expression;
  permissions?: Permissions;
  environment?: { name: string; url?: string };
  concurrency?: { group: string; "cancel-in-progress": boolean };
  "timeout-minutes"?: number;
  env?: Record<string, string>;
  outputs?: Record<string, Expression>;
  steps: Step[];
}

export interface DispatchInput {
  description: string;
  required: boolean;
  type: "string" | "boolean";
  default?: string | boolean;
}

export interface Workflow {
  name: string;
  on: {
    pull_request?: { branches: string[] };
    push?: { branches: string[] };
    schedule?: { cron: string }[];
    workflow_dispatch?: { inputs?: Record<string, DispatchInput> } | null;
  };
  permissions: Permissions;
  concurrency?: { group: string; "cancel-in-progress": boolean };
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}
