import type { HostLayout } from "../contract/layout";
import type { DeploySettings } from "../contract/settings";
import { envValue } from "../contract/envFile";
import { COLOURS, Colour, majorityColour } from "../contract/traffic";
import { Agent } from "./agent";
import { containerOf } from "./docker";
import { readTextFile } from "./files";
import { projectContainers } from "./gates";
import { readTraffic } from "./markers";
import { readCurrent } from "./releases";

/** What serves now, read from the host (the marker and the containers), for verdicts and status. */
export interface Serving {
  live: Colour | null;
  images: Record<Colour, string> | null;
  liveImage: string;
}

export async function serving(agent: Agent, layout: HostLayout, settings: DeploySettings): Promise<Serving> {
  const bg = settings.bluegreen;
  if (!bg) {
    const fromEnv = envValue(readTextFile(layout.envFile) ?? "", settings.app.imageVariable);
    return { live: null, images: null, liveImage: readCurrent(layout)?.image || fromEnv || "" };
  }
  const all = await projectContainers(agent, settings);
  const images = Object.fromEntries(COLOURS.map((c) => [c, containerOf(all, bg.services[c])?.image ?? ""])) as Record<Colour, string>;
  const state = readTraffic(bg.markerDir);
  const live = state ? majorityColour(state) : null;
  return { live, images, liveImage: live ? images[live] : "" };
}
