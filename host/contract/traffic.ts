/*
 * Traffic states and their grammar: the one definition the Caddyfile transformation, the
 * host agent's switch, the release CLI and the benchmark share. Caddy picks the colour of
 * every request from a marker file in one directory: no marker is the default colour,
 * `live-<colour>` is that colour, `canary-<colour>-<percent>` sends that share to <colour>.
 */

export type Colour = "blue" | "green";
export const COLOURS: readonly Colour[] = ["blue", "green"];

/** The colour that serves when no marker exists (a fresh host, or a lost directory). */
export const DEFAULT_COLOUR: Colour = "blue";

/**
 * The directory holding the Caddyfile a blue/green host's Caddy runs, relative to the
 * compose project directory, and where Caddy sees it. A directory, not the file, is
 * mounted: the agent replaces files by rename, and a single-file bind mount keeps showing
 * the inode it was created with, so a reload would read the old file.
 */
export const BLUEGREEN_CADDY_DIR = "caddy/bluegreen";
export const CADDY_CONFIG_DIR = "/etc/caddy";

/** The Caddyfile a blue/green host's Caddy runs, relative to the compose project directory. */
export const BLUEGREEN_CADDYFILE = `${BLUEGREEN_CADDY_DIR}/Caddyfile`;

/** That file as Caddy sees it (the path its image's default command runs). */
export const CADDYFILE_IN_CADDY = `${CADDY_CONFIG_DIR}/Caddyfile`;

/** Canary percentages are multiples of this, 5-95 (it bounds the Caddyfile's upstream list to 100/step entries). */
export const CANARY_STEP = 5;

export function isColour(x: unknown): x is Colour {
  return x === "blue" || x === "green";
}

export function otherColour(c: Colour): Colour {
  return c === "blue" ? "green" : "blue";
}

/**
 * Where traffic goes. `all` sends every request to one colour; `canary` sends `percent`
 * of requests to `colour` and the rest to the other colour.
 */
export type TrafficState = { kind: "all"; colour: Colour } | { kind: "canary"; colour: Colour; percent: number };

export function allTo(colour: Colour): TrafficState {
  return { kind: "all", colour };
}

export function canaryTo(colour: Colour, percent: number): TrafficState {
  checkPercent(percent);
  return { kind: "canary", colour, percent };
}

/** The one canary rule: a whole multiple of CANARY_STEP strictly between 0 and 100. */
export function isCanaryPercent(percent: unknown): percent is number {
  return typeof percent === "number" && Number.isInteger(percent) && percent > 0 && percent < 100 && percent % CANARY_STEP === 0;
}

export function checkPercent(percent: number): void {
  if (!isCanaryPercent(percent)) {
    throw new Error(`canary percent must be a multiple of ${CANARY_STEP} strictly between 0 and 100, not ${percent}`);
  }
}

/** A state's id: the value of the request variable, and the key of its named matcher. */
export function stateId(s: TrafficState): string {
  return s.kind === "all" ? s.colour : `canary-${s.colour}-${s.percent}`;
}

export function parseStateId(id: string): TrafficState {
  if (isColour(id)) return allTo(id);
  const m = /^canary-(blue|green)-([0-9]+)$/.exec(id);
  if (!m) throw new Error(`unknown traffic state '${id}' (blue, green, or canary-<colour>-<percent>)`);
  return canaryTo(m[1] as Colour, Number(m[2]));
}

/**
 * The marker file (a name in the marker directory) that selects a state, or null for the
 * default state, which is "no marker at all".
 */
export function markerName(s: TrafficState): string | null {
  if (s.kind === "all") return s.colour === DEFAULT_COLOUR ? null : `live-${s.colour}`;
  return stateId(s);
}

/** Is this directory entry a traffic marker (whatever its validity)? */
export function looksLikeMarker(name: string): boolean {
  return name.startsWith("live-") || name.startsWith("canary-");
}

/** The state a marker file selects; throws on a name no Caddyfile has a matcher for. */
export function stateOfMarker(name: string): TrafficState {
  const m = /^live-(blue|green)$/.exec(name);
  if (m) return allTo(m[1] as Colour);
  if (name.startsWith("canary-")) return parseStateId(name);
  throw new Error(`'${name}' is not a traffic marker (live-<colour> or canary-<colour>-<percent>)`);
}

/**
 * The state of a marker directory's entries: none is the default colour, one is its state,
 * more than one is ambiguous (only a hand edit or a torn switch leaves that) and is null.
 */
export function stateOfMarkers(names: readonly string[]): TrafficState | null {
  const markers = names.filter(looksLikeMarker);
  if (markers.length === 0) return allTo(DEFAULT_COLOUR);
  if (markers.length > 1) return null;
  return stateOfMarker(markers[0]);
}

/** The colour serving most requests in a state (a canary step's majority is the other colour). */
export function majorityColour(s: TrafficState): Colour {
  return s.kind === "all" ? s.colour : s.percent > 50 ? s.colour : otherColour(s.colour);
}

/**
 * Every state a Caddyfile built with these canary percentages can select, default first.
 * Canary steps exist in both directions (blue→green and green→blue) so that a release
 * can start from either live colour.
 */
export function allStates(canaryPercents: readonly number[] = []): TrafficState[] {
  const percents = [...new Set(canaryPercents)].sort((a, b) => a - b);
  percents.forEach(checkPercent);
  const states: TrafficState[] = [allTo(DEFAULT_COLOUR), allTo(otherColour(DEFAULT_COLOUR))];
  for (const colour of COLOURS) for (const p of percents) states.push(canaryTo(colour, p));
  return states;
}
