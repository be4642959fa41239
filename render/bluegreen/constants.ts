import { BLUEGREEN_CADDY_DIR, BLUEGREEN_CADDYFILE, CANARY_STEP, Colour, DEFAULT_COLOUR } from "../../host/contract/traffic";

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
  /** The generated compose file the host runs instead of wepppy's, relative to the project directory. */
  composeFile: "docker-compose.bluegreen.yml",
  /** The generated Caddyfile, relative to the compose project directory (beside wepppy's). */
  caddyfile: BLUEGREEN_CADDYFILE,
  /** The directory holding it, which compose mounts at Caddy's /etc/caddy (the contract's BLUEGREEN_CADDY_DIR). */
  caddyDir: BLUEGREEN_CADDY_DIR,
  /** The request variable that carries the traffic state through one request. */
  variable: "bluegreen_state",
  /** Prefix of every named matcher the transformation adds. */
  matcherPrefix: "bluegreen_",
  /** The colour that serves when no marker exists (the contract's DEFAULT_COLOUR). */
  defaultColour: DEFAULT_COLOUR,
  /** Canary percentages must be multiples of this (the contract's CANARY_STEP). */
  canaryGranularity: CANARY_STEP,
} as const;

// The traffic grammar lives in the host contract (the agent switches by it); re-exported
// here so that the renderers' imports stay as they were.
export {
  COLOURS,
  allStates,
  allTo,
  canaryTo,
  checkPercent,
  markerName,
  otherColour,
  parseStateId,
  stateId,
} from "../../host/contract/traffic";
export type { Colour, TrafficState } from "../../host/contract/traffic";

/** host:port of a colour's app container. */
export function colourUpstream(c: Colour): string {
  return `${BLUEGREEN.services[c]}:${BLUEGREEN.app.port}`;
}

/** The access log's path inside the Caddy container. */
export function accessLogPath(): string {
  return `${BLUEGREEN.accessLogDir}/${BLUEGREEN.accessLogFile}`;
}
