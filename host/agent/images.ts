import { digestOfRef } from "../contract/records";

/** Same image: the same digest where both references carry one, else the same text. */
export function sameImage(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  const da = digestOfRef(a);
  const db = digestOfRef(b);
  return da && db ? da === db : a === b;
}
