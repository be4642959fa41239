import * as pulumi from "@pulumi/pulumi";
import { stackFileName } from "./environments";
import { parseStackConfig } from "./load";
import { StackConfig } from "./schema";

/** The engine lists secret config keys in this variable (set by setAllConfig too). */
function secretConfigKeys(): string[] {
  try {
    return JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS ?? "[]");
  } catch {
    return [];
  }
}

/** The running stack's validated config; throws before anything is registered if it is bad. */
export function loadStackConfig(): { stack: string; config: StackConfig } {
  const stack = pulumi.getStack();
  const config = parseStackConfig(stack, pulumi.runtime.allConfig(), {
    source: stackFileName(stack),
    secretKeys: secretConfigKeys(),
  });
  return { stack, config };
}
