import { commandLine } from "../hostCommands";
import { HOST_SCRIPT } from "../../config/paths";
import { TrafficState, stateId } from "./constants";

/*
 * Traffic moves between the colours by changing the marker file Caddy stats on every
 * request (see caddyfile.ts). The switch itself lives in the host script (`traffic` and
 * `switch`, which need no settings), so that the deploy on a host, an operator by hand
 * and the loopback benchmark all run the same code; these build its command lines.
 */


/** Makes `state` the live traffic state; prints {"from":"<state>","to":"<state>"}. */
export function switchCommand(hostMarkerDir: string, state: TrafficState, script = HOST_SCRIPT): string {
  return commandLine(["bash", script, "switch", hostMarkerDir, stateId(state)]);
}

/** Prints {"state":"<id>"}; exit 3 when more than one marker exists (only a hand edit causes that). */
export function trafficStateCommand(hostMarkerDir: string, script = HOST_SCRIPT): string {
  return commandLine(["bash", script, "traffic", hostMarkerDir]);
}
