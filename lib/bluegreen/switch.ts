import { quote } from "../hostCommands";
import { BLUEGREEN, TrafficState, markerName, stateId } from "./constants";

/**
 * Host-side commands that move traffic between the colours by changing the marker file
 * that Caddy stats on every request (see caddyfile.ts). Pure builders: they return the
 * exact shell text run over SSH (POSIX sh, so bash or dash on the host).
 *
 * A switch is atomic for Caddy: at every instant exactly one state is selected.
 *  - from one marker to another: one rename(2), the old name and the new appear/disappear together;
 *  - from no marker (the default colour) to a marker: a temp file in the same directory, renamed into place;
 *  - from a marker to no marker: one unlink(2).
 * Leftover markers (a hand edit, an interrupted older switch) are removed after the
 * new one is in place. The command prints one JSON line: {"from":"<state>","to":"<state>"}.
 */

/** Shell function mapping a marker name (or nothing) to its state id. */
const STATE_OF = `state_of() { case $1 in '') printf %s ${quote(BLUEGREEN.defaultColour)} ;; live-*) printf %s "\${1#live-}" ;; *) printf %s "$1" ;; esac; }`;

/** Collects the marker names present in "$d" into "$cur" (space-separated; names have no spaces). */
const COLLECT = [
  `cur=`,
  `for f in "$d"/live-* "$d"/canary-*; do`,
  `  [ -f "$f" ] || continue`,
  `  cur="\${cur:+$cur }\${f##*/}"`,
  `done`,
];

/**
 * The command that makes `state` the live traffic state, given the host directory that
 * Caddy mounts at /srv/bluegreen.
 */
export function switchCommand(hostMarkerDir: string, state: TrafficState): string {
  const target = markerName(state) ?? "";
  return [
    "set -eu",
    `d=${quote(hostMarkerDir)}`,
    `t=${quote(target)}`,
    STATE_OF,
    `mkdir -p -- "$d"`,
    ...COLLECT,
    `first=\${cur%% *}`,
    `case $cur in *' '*) from=mixed ;; *) from=$(state_of "$cur") ;; esac`,
    `if [ -n "$t" ] && [ ! -f "$d/$t" ]; then`,
    `  if [ -n "$first" ]; then`,
    `    mv -f -- "$d/$first" "$d/$t"`,
    `  else`,
    `    tmp=$(mktemp "$d/.switch.XXXXXX")`,
    `    chmod 0644 "$tmp"`,
    `    mv -f -- "$tmp" "$d/$t"`,
    `  fi`,
    `fi`,
    `for f in $cur; do [ "$f" = "$t" ] || rm -f -- "$d/$f"; done`,
    `printf '{"from":"%s","to":"%s"}\\n' "$from" ${quote(stateId(state))}`,
  ].join("\n");
}

/**
 * The command that prints the live traffic state ({"state":"<id>"}); it fails (exit 3)
 * when more than one marker exists, which only a hand edit can cause.
 */
export function trafficStateCommand(hostMarkerDir: string): string {
  return [
    "set -eu",
    `d=${quote(hostMarkerDir)}`,
    STATE_OF,
    ...COLLECT,
    `case $cur in *' '*) printf 'more than one blue/green marker in %s: %s\\n' "$d" "$cur" >&2; exit 3 ;; esac`,
    `printf '{"state":"%s"}\\n' "$(state_of "$cur")"`,
  ].join("\n");
}
