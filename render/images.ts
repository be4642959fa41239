/** `registry[:port]` of an image reference (Docker Hub when the first part is not a host). */
export function registryOf(ref: string): string {
  const first = ref.split("/")[0];
  return ref.includes("/") && /[.:]/.test(first) ? first : "docker.io";
}

/** `sha256:...` of a digest-pinned reference, or "" for any other reference. */
export function digestOf(ref: string | undefined): string {
  const m = /@(sha256:[0-9a-f]{64})$/.exec(ref ?? "");
  return m ? m[1] : "";
}
