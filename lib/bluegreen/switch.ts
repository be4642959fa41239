import * as path from "node:path";
import { commandLine } from "../hostCommands";
import { PROJECT_ROOT } from "../paths";
import { TrafficState, stateId } from "./constants";

/*
 * Traffic moves between the colours by changing the marker file Caddy stats on every
 * request (see caddyfile.ts). The switch itself lives in the host script (`traffic` and
 * `switch`, which need no settings), so that the deploy on a host, an operator by hand
 * and the loopback benchmark all run the same code; these build its command lines.
 */

/** The host script in this repository, for local runs (the loopback benchmark, tests). */
export const LOCAL_HOST_SCRIPT = path.join(PROJECT_ROOT, "host", "wepppy-deploy");

/** Makes `state` the live traffic state; prints {"from":"<state>","to":"<state>"}. */
export function switchCommand(hostMarkerDir: string, state: TrafficState, script = LOCAL_HOST_SCRIPT): string {
  return commandLine(["bash", script, "switch", hostMarkerDir, stateId(state)]);
}

/** Prints {"state":"<id>"}; exit 3 when more than one marker exists (only a hand edit causes that). */
export function trafficStateCommand(hostMarkerDir: string, script = LOCAL_HOST_SCRIPT): string {
  return commandLine(["bash", script, "traffic", hostMarkerDir]);
}
