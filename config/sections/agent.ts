import { z } from "zod";

/*
 * The host agent's runtime image, built on each host from this program's Dockerfile
 * (host/agent/Dockerfile) and identified by a tag that changes when the Dockerfile or the
 * base changes: the host needs nothing beyond Docker to run it.
 */

const IMAGE_REF = /^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
const HTTPS_URL = /^https:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?\/[A-Za-z0-9._~\/-]*$/;

export const agent = z
  .strictObject({
    base: z
      .string({ error: "expected an image reference such as debian:bookworm-slim" })
      .regex(IMAGE_REF, { error: "expected an image reference such as debian:bookworm-slim" })
      .meta({ expected: "an image reference", description: "Debian bookworm image the agent image is built on (the host pulls it once)." })
      .default("debian:bookworm-slim"),
    composePlugin: z
      .strictObject({
        url: z.string().regex(HTTPS_URL, { error: "expected an https URL" }).meta({ expected: "an https URL", description: "Compose v2 plugin binary for the agent image (wepppy's hosts run `docker compose`)." }),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: "expected 64 hex digits" }).meta({ expected: "a sha256 in hex", description: "Its sha256, checked before it is installed." }),
      })
      .meta({ description: "Compose v2 built into the agent image, for a host without Docker's compose plugin; otherwise the agent uses the host's own plugin (its cli-plugins directory, mounted read-only)." })
      .optional(),
  })
  .meta({ description: "The host agent's image (issue 10): built on each host from host/agent/Dockerfile." });
