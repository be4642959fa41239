import { spawnSync } from "node:child_process";

let installed: boolean | undefined;

/** Whether docker-compose v1 runs here (`docker-compose version --short`): asked once per process, each ask starts Python (half a second of CPU). */
export function haveComposeV1(): boolean {
  installed ??= spawnSync("docker-compose", ["version", "--short"], { encoding: "utf8" }).status === 0;
  return installed;
}
