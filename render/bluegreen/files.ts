import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../../config/schema";
import { hostLayout } from "../hostCommands";
import { validationListener } from "../deploySettings";
import { withValidationListener } from "../caddyValidation";
import { blueGreenCaddyfile } from "./caddyfile";
import { blueGreenCompose, composeYaml, parseVolume } from "./compose";
import { BLUEGREEN, accessLogPath } from "./constants";

export interface BlueGreenFiles {
  composeDoc: Record<string, unknown>;
  composeYaml: string;
  caddyfilePath: string;
  caddyfile: string;
}

/** `${CADDY_FILE:-./caddy/Caddyfile}` -> ./caddy/Caddyfile: the file compose mounts by default. */
function defaultOf(source: string): string {
  const m = /^\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}$/.exec(source);
  return m ? m[1] : source;
}

/** The Caddyfile wepppy's compose mounts into Caddy, as a path inside sourceDir. */
export function caddyfileSource(doc: Record<string, unknown>): string {
  const services = (doc.services ?? {}) as Record<string, { volumes?: unknown[] }>;
  const caddy = services[BLUEGREEN.caddyService];
  const mount = (caddy?.volumes ?? []).map(parseVolume).find((m) => m?.target === "/etc/caddy/Caddyfile");
  if (!mount?.source) throw new Error(`compose: the ${BLUEGREEN.caddyService} service mounts no /etc/caddy/Caddyfile`);
  return defaultOf(mount.source);
}

/**
 * The compose file and Caddyfile a blue/green host runs, generated from wepppy's own:
 * the app service becomes two colours and Caddy picks one per request by the marker.
 * Caddy sees the Caddyfile through a directory mount, so that the agent can reload it in
 * place when a release changes it (a recreated Caddy would drop every open connection).
 */
export function blueGreenFiles(config: StackConfig, sourceDir: string, doc: Record<string, unknown>): BlueGreenFiles {
  const layout = hostLayout(config.deploy.root, config.compose.projectDir);
  const wepppys = fs.readFileSync(path.join(sourceDir, caddyfileSource(doc)), "utf8");
  // The validation listener first, so that its copy of the site picks the colour as the site does.
  const original = validationListener(config, [doc]) ? withValidationListener(wepppys, { sitePrefix: config.site.sitePrefix }) : wepppys;
  const caddy = blueGreenCaddyfile(original, { canaryPercents: config.bluegreen.canary, accessLog: accessLogPath() });
  const composed = blueGreenCompose(doc, {
    appService: config.compose.appService,
    caddyDir: `./${BLUEGREEN.caddyDir}`,
    markerHostDir: layout.markerDir,
    logHostDir: layout.accessLogDir,
  });
  for (const w of [...composed.warnings, ...(caddy.warnings ?? [])]) pulumi.log.warn(`blue/green: ${w}`);
  return { composeDoc: composed.doc, composeYaml: composeYaml(composed.doc), caddyfilePath: BLUEGREEN.caddyfile, caddyfile: caddy.caddyfile };
}
