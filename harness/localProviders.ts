import { randomInt } from "node:crypto";
import { CreateResult, ResourceRequest } from "./evaluate";

/*
 * Providers whose work needs no remote system, done here as the real provider would,
 * so an evaluation (and a rehearsal) gets real values rather than blanks.
 */

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

/** @pulumi/random's RandomPassword: `length` characters from the enabled classes. */
export function randomPassword(inputs: Record<string, any>): string {
  const alphabet =
    (inputs.upper === false ? "" : UPPER) +
    (inputs.lower === false ? "" : LOWER) +
    (inputs.numeric === false ? "" : DIGITS) +
    (inputs.special === false ? "" : (inputs.overrideSpecial ?? SPECIAL));
  const length = Number(inputs.length ?? 16);
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Answers the resource types it knows; undefined for the others. */
export function createLocally(request: ResourceRequest): CreateResult | undefined {
  if (request.type === "random:index/randomPassword:RandomPassword") {
    return { state: { ...request.inputs, result: randomPassword(request.inputs) } };
  }
  return undefined;
}
