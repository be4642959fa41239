import { StackConfig } from "../../config/schema";
import { Colour } from "./constants";

/** What each colour runs and which one serves, as a stack update declares it. */
export interface ColourImages {
  blue: string;
  green: string;
  live: Colour;
  /** The live colour's image: what the stack reports as its image and promotion reads. */
  liveImage: string;
}

/**
 * A colour the release CLI has not pinned runs the image the stack's `image` section
 * resolves to, so that turning blue/green on, or a first release, needs no extra step.
 */
export function colourImages(bluegreen: StackConfig["bluegreen"], resolved: string): ColourImages {
  const blue = bluegreen.images.blue ?? resolved;
  const green = bluegreen.images.green ?? resolved;
  const live = bluegreen.live;
  return { blue, green, live, liveImage: live === "blue" ? blue : green };
}

/** `sha256:...` of a digest-pinned reference, or "" for any other reference. */
export function digestOf(ref: string | undefined): string {
  const m = /@(sha256:[0-9a-f]{64})$/.exec(ref ?? "");
  return m ? m[1] : "";
}
