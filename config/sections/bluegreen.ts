import { z } from "zod";
import * as f from "../fields";

/*
 * Blue/green, release records, notifications and promotion rules. Which colour serves and
 * what each colour runs is the host's to know and decide (a release names only the image
 * that must be live); the release CLI writes the release record; an operator sets the rest.
 */

const DIGEST_REF = /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+@sha256:[0-9a-f]{64}$/;

export const digestRef = (description?: string) => {
  const expected = "an image reference pinned to a digest (<repository>@sha256:<64 hex digits>)";
  const error = `expected ${expected}`;
  return z.string({ error }).regex(DIGEST_REF, { error }).meta({ expected, description });
};

const canaryPercent = z
  .number({ error: "expected a whole number 5-95, a multiple of 5" })
  .int({ error: "expected a whole number 5-95, a multiple of 5" })
  .min(5, { error: "expected a whole number 5-95, a multiple of 5" })
  .max(95, { error: "expected a whole number 5-95, a multiple of 5" })
  .refine((n) => n % 5 === 0, { error: "expected a whole number 5-95, a multiple of 5" });

const analysis = z
  .strictObject({
    seconds: f.count(0, 3600, "How long the new colour is watched after the switch before the release counts as done (spec: 10 minutes).").default(600),
    intervalSeconds: f.count(1, 60, "Seconds between checks during the analysis window.").default(2),
    maxErrorPercent: f.count(0, 100, "5xx responses in Caddy's access log above this share of requests switch back (spec: 5 %).").default(5),
    minRequests: f.count(1, 1_000_000, "Requests needed in the window before the 5xx share is judged.").default(20),
    stepSeconds: f.count(0, 3600, "Analysis between canary steps.").default(60),
  })
  .meta({ description: "What decides an automatic switch back after a release." });

export const bluegreen = z
  .strictObject({
    enabled: f.flag("Run weppcloud as two colours behind Caddy and release by switching traffic (prod; testprod optional)."),
    warmSeconds: f.count(0, 7 * 86400, "How long the previous colour stays up after a release, so that a rollback is only a switch.").default(1800),
    canary: z
      .array(canaryPercent, { error: "expected a list of percentages" })
      .max(5, { error: "expected at most 5 canary steps" })
      .refine((xs) => xs.every((x, i) => i === 0 || x > xs[i - 1]), { error: "expected rising percentages" })
      .meta({ expected: "a list of rising percentages (multiples of 5)", description: "Canary steps before all traffic moves (e.g. [10, 50]); empty: switch at once." })
      .default([]),
    analysis: analysis.prefault({}),
  })
  .meta({ description: "Blue/green releases (spec: Blue-Green Deployment, Automatic Rollback Triggers)." });

const RELEASE_TAG = /^prod-[0-9]{8}-[0-9]{6}$/;
const VERSION = /^[0-9]{4}\.[0-9]{2}\.[0-9]{1,4}$/;

export const release = z
  .strictObject({
    id: z
      .string({ error: "expected a release id ([A-Za-z0-9._:-], at most 64)" })
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, { error: "expected a release id ([A-Za-z0-9._:-], at most 64)" })
      .meta({ expected: "a release id", description: "Written by `wepppy-cicd release|promote|rollback`; recorded in the audit log." }),
    tag: z.string().regex(RELEASE_TAG, { error: "expected prod-YYYYMMDD-HHMMSS" }).meta({ expected: "prod-YYYYMMDD-HHMMSS", description: "Prod release tag." }).optional(),
    version: z.string().regex(VERSION, { error: "expected YYYY.MM.PATCH" }).meta({ expected: "YYYY.MM.PATCH", description: "Prod release version." }).optional(),
    actor: f.unixUser("Who ran the release.").optional(),
    note: f.prose("Recorded with the deploy in the audit log (e.g. a promotion forced past validation).").optional(),
  })
  .meta({ description: "The release this update carries; written by the release CLI, never by hand." });

export const notify = z
  .strictObject({
    webhook: z
      .string({ error: "expected an http(s) URL" })
      .regex(/^https?:\/\/[^\s]+$/, { error: "expected an http(s) URL" })
      .meta({ expected: "an http(s) URL", description: "Receives a JSON POST on every release, rollback and failure (Discord/Slack-style webhook; secret: it holds a token)." })
      .optional(),
  })
  .meta({ description: "Where releases are announced (secret: the whole section is never echoed)." });

/** The validation suites (host/contract/records.ts SUITES: the agent knows these and no others). */
export const SUITE_NAMES = ["create-run", "routes", "profile-playback"] as const;

/**
 * Hours, fractions allowed. `pulumi config set --path` stores "0.05" as a string (only integers
 * and booleans are typed, config/object.go coerce), so a decimal string is read as its number.
 */
const hours = (max: number, description: string) => {
  const error = `expected a number of hours 0-${max} (fractions allowed: 0.05 is 3 minutes)`;
  return z
    .preprocess((v) => (typeof v === "string" && /^\d+(\.\d+)?$/.test(v) ? Number(v) : v), z.number({ error }).min(0, { error }).max(max, { error }))
    .meta({ expected: `0-${max} (hours, fractions allowed)`, description });
};

export const promotion = z
  .strictObject({
    windowHours: f.count(1, 24 * 30, "How recent testprod's passing run of each required suite for a digest must be for `promote`.").default(72),
    suites: f
      .list(f.oneOf(SUITE_NAMES), "suite names", "Validation suites: testprod runs them after each deploy and on `wepppy-cicd validate`, each kept as evidence; prod's list is what `promote` requires passed. create-run needs the test-support API; profile-playback needs the profile-playback service (reported unavailable without it).")
      .default(["create-run", "routes"]),
    runConfigs: z
      .array(f.fileName(), { error: "expected a list of configuration names" })
      .meta({ expected: "a list of configuration names", description: "wepppy configurations the create-run suite creates, fetches and deletes a run of (test-support API)." })
      .default(["dev_unit_1"]),
    pages: f.list(f.urlPath(), "URL paths", "Pages the routes suite fetches through Caddy, with the site's Host header.").default(["/weppcloud/"]),
    routes: z
      .array(f.urlPath(), { error: "expected a list of URL paths" })
      .meta({ expected: "a list of URL paths", description: "Service APIs the routes suite fetches through Caddy besides the pages (status, preflight, rq-engine, query-engine, ...)." })
      .default(["/weppcloud-microservices/status/health", "/weppcloud-microservices/preflight/health", "/rq-engine/health", "/query-engine/health"]),
    profiles: z
      .array(f.fileName(), { error: "expected a list of profile names" })
      .meta({ expected: "a list of profile names", description: "Profiles the profile-playback suite replays (e.g. quick, wepppy's smoke-profile-quick.yml)." })
      .default(["quick"]),
    soakHours: hours(24 * 30, "How long testprod watches a release after its deploy (5xx share in Caddy's log, *:error:* keys in Redis, every service's health); prod's value is the soak `promote` requires. 0: none.").default(24),
    soakIntervalSeconds: f.count(1, 3600, "Seconds between the soak's samples.").default(60),
    maxErrorPercent: f.count(0, 100, "5xx share of Caddy's requests during the soak that fails it (prod's value: what `promote` accepts).").default(1),
    minRequests: f.count(1, 1_000_000, "Requests the soak must see before its 5xx share is judged.").default(20),
    maxAppErrors: f.count(0, 1_000_000, "New *:error:* keys in Redis during the soak that fail it (spec: 50).").default(50),
    validationPort: f
      .count(1024, 65535, "Port on the host's loopback (127.0.0.1) where Caddy's validation listener is published. With features.TEST_SUPPORT_ENABLED the test-support API (/tests/api) answers only there, for the host's own validation client; the public site answers it 404.")
      .default(18090),
  })
  .meta({ description: "Evidence on testprod that `wepppy-cicd promote` requires (spec: Release Process step 4, Quality Gates): validation suites, a soak, and a restore drill on prod (backup.drillHours)." });
