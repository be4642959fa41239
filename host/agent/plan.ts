import { COLOURS, Colour, TrafficState, majorityColour, otherColour } from "../contract/traffic";
import type { ContainerInfo } from "./docker";
import { sameImage } from "./images";

/*
 * The host decides the colours. A blue/green request names only the image that must be
 * live; what each colour runs and which one serves is read from the host (the marker, and
 * docker inspect of each colour's container), and this pure function chooses what to do.
 */

export interface ColourTruth {
  colour: Colour;
  service: string;
  exists: boolean;
  running: boolean;
  image: string;
  /** Docker's health, or "missing" when there is no container. */
  health: string;
  containerId?: string;
}

export function colourTruth(colour: Colour, service: string, c: ContainerInfo | undefined): ColourTruth {
  return c
    ? { colour, service, exists: true, running: c.running, image: c.image, health: c.health, containerId: c.id }
    : { colour, service, exists: false, running: false, image: "", health: "missing" };
}

export type BlueGreenPlan =
  /** No colour has a container: everything comes up, both colours on the image, traffic where the marker says. */
  | { kind: "first"; live: Colour }
  /** The live colour runs the image: no traffic moves (a canary left behind goes all to it); the other services follow the release. */
  | { kind: "converge"; live: Colour }
  /** The other colour runs the image, warm and healthy: switch at once (a rollback). */
  | { kind: "switch-warm"; from: TrafficState; live: Colour; target: Colour }
  /** The colour not serving gets the image, is gated, and traffic moves to it. */
  | { kind: "release"; from: TrafficState; live: Colour; target: Colour; why: string };

export interface PlanInput {
  state: TrafficState;
  truth: Record<Colour, ColourTruth>;
  image: string;
  /** A secret the colours mount changed: no running colour has it, so neither counts as running the release. */
  appSecretsChanged: boolean;
  /** The other colour answered its health check just now (or docker reports it healthy). */
  otherHealthy: boolean;
}

export function decide(p: PlanInput): BlueGreenPlan {
  const live = majorityColour(p.state);
  const other = otherColour(live);
  if (COLOURS.every((c) => !p.truth[c].exists)) return { kind: "first", live };
  const liveT = p.truth[live];
  const otherT = p.truth[other];
  if (liveT.running && sameImage(liveT.image, p.image) && !p.appSecretsChanged) return { kind: "converge", live };
  if (otherT.running && sameImage(otherT.image, p.image) && !p.appSecretsChanged && p.otherHealthy) {
    return { kind: "switch-warm", from: p.state, live, target: other };
  }
  const why = p.appSecretsChanged && sameImage(liveT.image, p.image)
    ? `a secret the colours mount changed: ${other} gets the same image with the new secrets`
    : otherT.running && sameImage(otherT.image, p.image)
      ? `${other} runs the image but is not healthy: it is recreated`
      : `${other} gets the image`;
  return { kind: "release", from: p.state, live, target: other, why };
}

/** Whether the other colour is a warm candidate at all (worth a health probe). */
export function otherMayBeWarm(p: Omit<PlanInput, "otherHealthy">): boolean {
  const other = otherColour(majorityColour(p.state));
  const t = p.truth[other];
  return t.running && sameImage(t.image, p.image) && !p.appSecretsChanged;
}
