import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";
import { EnvironmentPolicy } from "../../config/githubNames";
import { githubProvider } from "./githubProvider";

export interface GithubEnvironmentArgs {
  owner: string;
  repository: string;
  /** GitHub deployment environment, e.g. "production". */
  environment: string;
  /** The only branch that may deploy to it. */
  branch: string;
  policy: EnvironmentPolicy;
  /** GitHub logins of the users who approve deployments. */
  reviewers?: string[];
  waitMinutes: number;
  canAdminsBypass: boolean;
  /** Environment secrets by GitHub name; every value is made secret here. */
  secrets: Record<string, pulumi.Input<string>>;
}

/** One deployment environment: its protection rules, its branch policy and its secrets. */
export class GithubEnvironment extends pulumi.ComponentResource {
  readonly environment: string;
  readonly secretNames: string[];

  /** The reviewers the policy allows, or an error naming the config key to fix. */
  static reviewers(args: Pick<GithubEnvironmentArgs, "environment" | "policy" | "reviewers">): string[] {
    const logins = args.reviewers ?? [];
    if (args.policy.reviewersRequired && logins.length === 0) {
      throw new Error(`${args.environment}: deployments must be approved: set wepppy-cicd:github.environment.reviewers (GitHub logins)`);
    }
    if (!args.policy.reviewersRequired && logins.length > 0) {
      throw new Error(`${args.environment}: deploys without approval; remove wepppy-cicd:github.environment.reviewers`);
    }
    if (logins.length > 6) throw new Error(`${args.environment}: GitHub allows at most 6 reviewers`);
    return logins;
  }

  constructor(name: string, args: GithubEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:github:GithubEnvironment", name, {}, opts);
    const logins = GithubEnvironment.reviewers(args);
    const provider = githubProvider(`${name}-provider`, args.owner, this);
    const child = { parent: this, provider };
    // The environment API takes numeric ids; the stack file names people by login.
    const users = logins.map((username) =>
      github.getUserOutput({ username }, { parent: this, provider }).id.apply((id) => Number(id)),
    );
    this.environment = args.environment;

    const env = new github.RepositoryEnvironment(
      `${name}-environment`,
      {
        repository: args.repository,
        environment: args.environment,
        waitTimer: args.waitMinutes,
        canAdminsBypass: args.canAdminsBypass,
        preventSelfReview: args.policy.preventSelfReview,
        reviewers: users.length > 0 ? [{ users, teams: [] }] : [],
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      },
      child,
    );
    new github.RepositoryEnvironmentDeploymentPolicy(
      `${name}-branch-${args.branch}`,
      { repository: args.repository, environment: env.environment, branchPattern: args.branch },
      child,
    );

    this.secretNames = Object.keys(args.secrets).sort();
    for (const secretName of this.secretNames) {
      new github.ActionsEnvironmentSecret(
        `${name}-secret-${secretName}`,
        { repository: args.repository, environment: env.environment, secretName, value: pulumi.secret(args.secrets[secretName]) },
        child,
      );
    }
    this.registerOutputs({ environment: this.environment, secretNames: this.secretNames });
  }
}
