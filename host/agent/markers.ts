import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { TrafficState, looksLikeMarker, markerName, stateId, stateOfMarkers } from "../contract/traffic";

/*
 * The switch: Caddy stats the marker directory on every request, so moving traffic is one
 * rename(2) on the host: no reload, no dropped keep-alive connection. Marker to marker is
 * one rename (the same inode: no instant without a marker), none to a marker is a temp
 * file renamed into place, a marker to none is one unlink; leftovers (a torn hand edit) go
 * once the new state exists.
 */

export function markersIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter(looksLikeMarker).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** The traffic state, or null when more than one marker exists (ambiguous). */
export function readTraffic(dir: string): TrafficState | null {
  return stateOfMarkers(markersIn(dir));
}

export function trafficId(state: TrafficState | null): string {
  return state ? stateId(state) : "mixed";
}

export function switchTraffic(dir: string, to: TrafficState): { from: string; to: string } {
  fs.mkdirSync(dir, { recursive: true });
  const current = markersIn(dir);
  const from = trafficId(stateOfMarkers(current));
  const target = markerName(to);
  if (target !== null && !current.includes(target)) {
    if (current.length > 0) {
      fs.renameSync(path.join(dir, current[0]), path.join(dir, target));
    } else {
      const tmp = path.join(dir, `.switch.${crypto.randomBytes(6).toString("hex")}`);
      fs.writeFileSync(tmp, "", { mode: 0o644, flag: "wx" });
      fs.chmodSync(tmp, 0o644);
      fs.renameSync(tmp, path.join(dir, target));
    }
  }
  for (const m of current) if (m !== target) fs.rmSync(path.join(dir, m), { force: true });
  return { from, to: stateId(to) };
}
