import { strict as assert } from "node:assert";
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { judgeConfig } from "../../lib/ops/common";
import { configMapFromRaw } from "../../lib/ops/configMap";
import { MemoryStack } from "../../lib/ops/memoryStack";
import { NotifyEvent, NotifyOutcome } from "../../lib/ops/notify";
import { stackConfig } from "./helpers";

/*
 * Shared by the ops-*.test.ts files: configs as the Automation API lists them (the stack
 * files, made blue/green, plus a secret and a webhook), update records, and spies.
 */

export const NOW = new Date("2026-11-25T10:00:00Z");
export const REPO = "ghcr.io/rogerlew/wepppy";
export const digest = (c: string) => `sha256:${c.repeat(64)}`;
export const ref = (c: string) => `${REPO}@${digest(c)}`;
export const A = ref("a");
export const B = ref("b");
export const C = ref("c");
export const SECRETS = "wepppy-cicd:secrets";
export const WEBHOOK = "https://hooks.example.test/services/T0KEN-9f2c41";

export interface Colours {
  live?: "blue" | "green";
  images?: { blue?: string; green?: string };
}

/** A stack's config with blue/green on, the colours given, a secret and a webhook. */
export function blueGreenConfig(stack: "testprod" | "prod", colours: Colours, overrides: Record<string, unknown> = {}, secret = "current-secret"): ConfigMap {
  const map = configMapFromRaw(stackConfig(stack, { bluegreen: { enabled: true, ...colours }, ...overrides }));
  map[SECRETS] = { value: JSON.stringify({ oauth_client_secret: secret }), secret: true };
  map["wepppy-cicd:notify"] = { value: JSON.stringify({ webhook: WEBHOOK }), secret: true };
  return map;
}

export function section(map: ConfigMap, name: string): Record<string, unknown> {
  return JSON.parse(map[`wepppy-cicd:${name}`].value);
}

/** An update as `pulumi stack history --json --show-secrets` lists it. */
export function update(version: number, result: "succeeded" | "failed", config: ConfigMap, at = new Date(NOW.getTime() - (100 - version) * 3600_000)): UpdateSummary {
  return { version, kind: "update", result, startTime: at, endTime: at, message: "", environment: {}, config: structuredClone(config) };
}

/** Calls that change a stack. */
export function writes(stack: MemoryStack): string[] {
  return stack.calls.filter((c) => /^(setConfig|setAllConfig|removeConfig|up)/.test(c));
}

export function notifySpy() {
  const sent: { url: string | undefined; event: NotifyEvent }[] = [];
  const notify = async (url: string | undefined, event: NotifyEvent): Promise<NotifyOutcome> => {
    sent.push({ url, event });
    return { sent: true };
  };
  return { sent, notify };
}

export const quiet = () => undefined;

describe("ops fixtures", () => {
  it("are configs the schema accepts, so that each test's refusals are its own", () => {
    judgeConfig("testprod", blueGreenConfig("testprod", { live: "blue", images: { blue: A } }));
    judgeConfig("prod", blueGreenConfig("prod", { live: "green", images: { blue: A, green: B } }));
    assert.equal(section(blueGreenConfig("prod", { live: "green" }), "bluegreen").live, "green");
  });
});
