import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { PROJECT } from "../../config/environments";
import { POLICY_PACK_DIR } from "../../config/paths";
import { gatePolicies } from "../../policy/gates";
import { Violation, runPolicies } from "../../policy/offline";
import type { RegisteredResource } from "../evaluate";

/*
 * `--policy-pack policy --policy-pack-config <file>` for the stand-in engine: this project's
 * pack (the only one it knows), run on the graph the program registered, with the stack's
 * config as the engine hands it to a pack, at the levels the config file sets.
 */

export function policyPackViolations(
  stack: string,
  graph: { resources: RegisteredResource[]; outputs: Record<string, unknown> },
  configMap: ConfigMap,
  packs: string[],
  packConfigs: string[] = [],
): Promise<Violation[]> {
  for (const pack of packs) {
    if (path.resolve(pack) !== POLICY_PACK_DIR) throw new Error(`the stand-in engine runs only this project's policy pack (${POLICY_PACK_DIR}), not ${pack}`);
  }
  const values = Object.fromEntries(Object.entries(configMap).map(([k, v]) => [k, v.value ?? ""]));
  const secretKeys = Object.entries(configMap).filter(([, v]) => v.secret).map(([k]) => k);
  const config = packConfigs[0] ? JSON.parse(fs.readFileSync(packConfigs[0], "utf8")) : undefined;
  return runPolicies(gatePolicies({ stackConfig: () => ({ values, secretKeys }) }), { stack, project: PROJECT, resources: graph.resources, outputs: graph.outputs }, { config }).then((r) => r.violations);
}

/** The CLI's report of violations, one block per violation (pkg/display: "Policy Violations:"). */
export function policyViolationText(violations: Violation[]): string {
  const lines = ["Policy Violations:"];
  for (const v of violations) lines.push(`    [${v.enforcementLevel}]  wepppy-cicd-gates  ${v.policy}  (${v.resource ?? "stack"})`, `    ${v.message}`);
  return lines.join("\n");
}
