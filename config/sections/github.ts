import { z } from "zod";
import * as f from "../fields";

/*
 * The `wepppy-cicd:github` section: which repository the GitHub side manages and how.
 * Every stack reads it; each uses only the part for the objects it owns (see
 * config/githubNames.ts): the repository owner stack the workflow and ruleset keys,
 * an environment stack its `environment` keys.
 */

function text(expected: string, pattern: RegExp, description: string) {
  const error = `expected ${expected}`;
  return z.string({ error }).regex(pattern, { error }).meta({ expected, description });
}

// GitHub's rules: a login is alphanumeric with single inner hyphens, at most 39 characters.
const LOGIN = /^(?=.{1,39}$)[A-Za-z0-9](?:-?[A-Za-z0-9])*$/;
const REPOSITORY_NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/;
const FULL_NAME = /^(?=.{1,39}\/)[A-Za-z0-9](?:-?[A-Za-z0-9])*\/(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/;
// `pulumi login` URLs this program supports: the runner's local disk.
const BACKEND_URL = /^file:\/\/(?:~|\/(?:(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+\/?)*)$/;
const VERSION = /^[0-9]+\.[0-9]+\.[0-9]+$/;
// Five cron fields of digits, '*', ',', '-' and '/'.
const CRON = /^(?:[0-9*,\/-]+ ){4}[0-9*,\/-]+$/;

const login = (description: string) => text("a GitHub user or organization name", LOGIN, description);

const environment = z
  .strictObject({
    reviewers: f
      .list(login("A GitHub login."), "GitHub logins", "Users who approve deployments (at most 6); production requires one. Their ids are looked up with the GitHub API.")
      .optional(),
    waitMinutes: f.count(0, 43200, "Minutes a deployment waits after approval before it runs (0: none).").default(0),
    canAdminsBypass: f.flag("Whether repository admins may skip the environment's protections.").default(false),
  })
  .meta({ description: "The stack's GitHub deployment environment (environment stacks)." });

const pulumiRun = z
  .strictObject({
    backendUrl: text(
      "a file:// backend URL on the runner",
      BACKEND_URL,
      "State backend the deploy jobs log in to on the deploy runner (`file://~` is `pulumi login --local` as the deploy runner's account; the stacks' passphrase is an environment secret, never on disk).",
    ).default("file://~"),
    version: text("a version x.y.z", VERSION, "Pulumi CLI version the workflows install.").default("3.248.0"),
  })
  .meta({ description: "How deploy and drift jobs run this program on the deploy runner." });

export const github = z
  .strictObject({
    owner: login("Owner of wepppy's GitHub repository.").default("rogerlew"),
    repository: text("a repository name ([A-Za-z0-9._-])", REPOSITORY_NAME, "wepppy's repository.").default("wepppy"),
    branch: f.gitRef("The protected branch PRs merge into and environments deploy from.").default("master"),
    cicdRepository: text(
      "owner/name",
      FULL_NAME,
      "Repository of this program, checked out beside wepppy by the workflows.",
    ).default("rogerlew/wepppy-cicd"),
    cicdRef: f.gitRef("Ref of this program the workflows run.").default("main"),
    rulesetBypass: f
      .oneOf(
        ["admin", "none"],
        "Who may bypass the master ruleset: repository admins (needed for this program to commit the workflows) or nobody.",
      )
      .default("admin"),
    nightlyCron: text("five cron fields", CRON, "When the nightly workflow runs (UTC).").default("17 7 * * *"),
    environment: environment.prefault({}),
    pulumi: pulumiRun.prefault({}),
  })
  .meta({ description: "The GitHub side: repository, environments, workflows (issue 6); the runners are `wepppy-cicd:runner`." });

export type GithubConfig = z.output<typeof github>;
