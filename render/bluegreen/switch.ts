import { commandLine } from "../hostCommands";
import { HOST_SCRIPT } from "../../config/paths";
import { TrafficState, stateId } from "./constants";

/*
 * Traffic moves between the colours by changing the marker file Caddy stats on every
 * request (see caddyfile.ts). The switch itself is the host agent's (host/agent/markers.ts,
 * on the contract's traffic grammar): its `traffic` and `switch` commands need no settings,
 * so that a deploy, an operator by hand and the benchmarks run the same code. These build
 * the command lines that reach it through the host's bootstrap.
 */


/** Makes `state` the live traffic state; prints {"from":"<state>","to":"<state>"}. */
export function switchCommand(hostMarkerDir: string, state: TrafficState, script = HOST_SCRIPT): string {
  return commandLine(["bash", script, "switch", hostMarkerDir, stateId(state)]);
}

/** Prints {"state":"<id>"}; exit 3 when more than one marker exists (only a hand edit causes that). */
export function trafficStateCommand(hostMarkerDir: string, script = HOST_SCRIPT): string {
  return commandLine(["bash", script, "traffic", hostMarkerDir]);
}
