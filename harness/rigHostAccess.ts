import * as fs from "node:fs";
import { NAMESPACE } from "../config/environments";
import { parseStackConfig } from "../config/load";
import { PROJECT_ROOT, WEPPPY_REFERENCE_DIR } from "../config/paths";
import { readStackFile, withOverrides } from "../config/stackFile";
import type { HostAccess } from "../ops/hostAccess";
import { hostLayout } from "../render/hostCommands";
import type { RigStatus } from "../rig";
import { hostKeyOf, rigHostFor } from "./rehearsal/rigTarget";

/** A stack's rig host (the CLI's --rig adapter): the rig host playing it, the layout its stack file declares. */
export function rigHostAccess(stack: string, status: RigStatus, workDir = PROJECT_ROOT): HostAccess {
  const raw = withOverrides(readStackFile(stack, workDir), { "compose.sourceDir": WEPPPY_REFERENCE_DIR }, NAMESPACE);
  const config = parseStackConfig(stack, raw.values, { secretKeys: raw.secretKeys });
  const host = rigHostFor(status, config.deploy.host);
  return {
    connection: { host: host.address, port: host.sshPort, user: host.sshUser, hostKey: hostKeyOf(host.hostKey), privateKey: fs.readFileSync(host.privateKey, "utf8") },
    layout: hostLayout(config.deploy.root, config.compose.projectDir),
    via: `rig (${host.name})`,
  };
}

