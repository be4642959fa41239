import * as path from "node:path";

/** The directory holding Pulumi.yaml; relative paths in stack files are resolved against it. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** wepppy's own deployment files, as the workplace provides them beside the clone. */
export const WEPPPY_REFERENCE_DIR = path.resolve(PROJECT_ROOT, "../shared/reference/wepppy");

/** The host's bootstrap (it starts the agent's container), shipped to every host as <root>/bin/wepppy-deploy. */
export const HOST_SCRIPT = path.join(PROJECT_ROOT, "host", "wepppy-deploy.sh");

/** The quality gates (CrossGuard pack) and the levels its committed config sets: every deploy's preview and up run them. */
export const POLICY_PACK_DIR = path.join(PROJECT_ROOT, "policy");
export const POLICY_PACK_CONFIG = path.join(POLICY_PACK_DIR, "policy-config.json");

/** The root-only helpers (write-secrets, install-file, install-timer), shipped as <root>/bin/wepppy-root. */
export const ROOT_HELPER = path.join(PROJECT_ROOT, "host", "wepppy-root.sh");
