/**
 * Names shared by every part of blue/green: the Caddyfile transformation, the host-side
 * switch command, the compose side and the benchmark. One object, so that a rename is
 * one edit.
 */
export const BLUEGREEN = {
  /** The single app upstream in wepppy's production Caddyfile that becomes two colours. */
  app: { service: "weppcloud", port: 8000 },
  /** Compose service names of the two colours (also their DNS names on the compose network). */
  services: { blue: "weppcloud-blue", green: "weppcloud-green" },
  /**
   * The directory holding the traffic marker, as Caddy sees it (a read-only bind mount
   * of a host directory: a directory, not a file, so that renames on the host are seen
   * inside the container).
   */
  markerDir: "/srv/bluegreen",
  /**
   * Where Caddy writes its JSON access log, as Caddy sees it (a read-write bind mount of a
   * host directory); the host's analysis window counts 5xx responses in it after a switch.
   */
  accessLogDir: "/var/log/caddy-bluegreen",
  accessLogFile: "access.log",
  /** Compose variables holding each colour's image (required: compose refuses to run without them). */
  imageVariables: { blue: "WEPPCLOUD_BLUE_IMAGE", green: "WEPPCLOUD_GREEN_IMAGE" },
  /** Compose variable (in the project's .env) naming the colour that serves; the host script reads it. */
  liveVariable: "WEPPCLOUD_LIVE_COLOUR",
  /** The compose service running Caddy, which mounts the marker and access-log directories. */
  caddyService: "caddy",
  /** Set in each colour's environment, so that the app (and its logs) can tell which colour it is. */
  colourVariable: "WEPPCLOUD_COLOUR",
  /** The generated Caddyfile, relative to the compose project directory (beside wepppy's). */
  caddyfile: "caddy/Caddyfile.bluegreen",
  /** The request variable that carries the traffic state through one request. */
  variable: "bluegreen_state",
  /** Prefix of every named matcher the transformation adds. */
  matcherPrefix: "bluegreen_",
  /** The colour that serves when no marker exists (a fresh host, or a lost directory). */
  defaultColour: "blue",
  /** Canary percentages must be multiples of this (it bounds the upstream list to 100/step entries). */
  canaryGranularity: 5,
} as const;

export type Colour = "blue" | "green";
export const COLOURS: readonly Colour[] = ["blue", "green"];

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

export function checkPercent(percent: number): void {
  const step = BLUEGREEN.canaryGranularity;
  if (!Number.isInteger(percent) || percent <= 0 || percent >= 100 || percent % step !== 0) {
    throw new Error(`canary percent must be a multiple of ${step} strictly between 0 and 100, not ${percent}`);
  }
}

/** A state's id: the value of the request variable, and the key of its named matcher. */
export function stateId(s: TrafficState): string {
  return s.kind === "all" ? s.colour : `canary-${s.colour}-${s.percent}`;
}

export function parseStateId(id: string): TrafficState {
  if (id === "blue" || id === "green") return allTo(id);
  const m = /^canary-(blue|green)-([0-9]+)$/.exec(id);
  if (!m) throw new Error(`unknown traffic state '${id}' (blue, green, or canary-<colour>-<percent>)`);
  return canaryTo(m[1] as Colour, Number(m[2]));
}

/**
 * The marker file (a name in the marker directory) that selects a state, or null for the
 * default state, which is "no marker at all".
 */
export function markerName(s: TrafficState): string | null {
  if (s.kind === "all") return s.colour === BLUEGREEN.defaultColour ? null : `live-${s.colour}`;
  return stateId(s);
}

/**
 * Every state a Caddyfile built with these canary percentages can select, default first.
 * Canary steps exist in both directions (blue→green and green→blue) so that a release
 * can start from either live colour.
 */
export function allStates(canaryPercents: readonly number[] = []): TrafficState[] {
  const percents = [...new Set(canaryPercents)].sort((a, b) => a - b);
  percents.forEach(checkPercent);
  const def = BLUEGREEN.defaultColour as Colour;
  const states: TrafficState[] = [allTo(def), allTo(otherColour(def))];
  for (const colour of COLOURS) for (const p of percents) states.push(canaryTo(colour, p));
  return states;
}

/** host:port of a colour's app container. */
export function colourUpstream(c: Colour): string {
  return `${BLUEGREEN.services[c]}:${BLUEGREEN.app.port}`;
}

/** The access log's path inside the Caddy container. */
export function accessLogPath(): string {
  return `${BLUEGREEN.accessLogDir}/${BLUEGREEN.accessLogFile}`;
}
