import * as path from "node:path";

/** The directory holding Pulumi.yaml; relative paths in stack files are resolved against it. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** wepppy's own deployment files, as the workplace provides them beside the clone. */
export const WEPPPY_REFERENCE_DIR = path.resolve(PROJECT_ROOT, "../shared/reference/wepppy");

/** The host script in this repository: shipped to every host, and run locally by tests and the loopback benchmark. */
export const HOST_SCRIPT = path.join(PROJECT_ROOT, "host", "wepppy-deploy.sh");
