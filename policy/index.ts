import { PolicyPack } from "@pulumi/policy";
import { GateContext, gatePolicies } from "./gates";

/*
 * The pipeline's quality gates, loaded by `pulumi preview --policy-pack policy` (the PR
 * workflow runs it on every stack). Pulumi runs this file with its own policy-pack runner
 * (@pulumi/pulumi/cmd/run-policy-pack, ts-node) in this directory; dependencies resolve
 * from the project's node_modules. The policies themselves live in gates.ts, which the
 * unit tests call offline.
 */

/** The stack's config, as the engine hands it to the pack's process (the same variables a program reads). */
const fromEngine: GateContext = {
  stackConfig() {
    const parse = <T>(text: string | undefined, fallback: T): T => {
      try {
        return text ? (JSON.parse(text) as T) : fallback;
      } catch {
        return fallback;
      }
    };
    return {
      values: parse<Record<string, string>>(process.env.PULUMI_CONFIG, {}),
      secretKeys: parse<string[]>(process.env.PULUMI_CONFIG_SECRET_KEYS, []),
    };
  },
};

new PolicyPack("wepppy-cicd-gates", {
  description: "wepppy-cicd's quality gates: digest-pinned prod after a verified backup, a protected production environment, pinned host keys, no secret in plain values, silent secret commands, required checks = PR jobs, actions pinned by SHA.",
  policies: gatePolicies(fromEngine),
});
