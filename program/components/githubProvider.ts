import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";

/**
 * The GitHub provider for one component, pinned to the repository's owner. Its token
 * comes from the GITHUB_TOKEN environment variable of whoever runs Pulumi (a person
 * by hand, or in the workflows the environment's CICD_*_TOKEN secret, see render/workflows/common.ts pulumiSecrets), never from state.
 */
export function githubProvider(name: string, owner: string, parent: pulumi.Resource): github.Provider {
  return new github.Provider(name, { owner }, { parent });
}
