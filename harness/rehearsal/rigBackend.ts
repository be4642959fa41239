import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { stateDir as rigStateDir } from "../../rig/config";
import { FileBackend } from "../engine/backend";

/*
 * The rig's stand-in for the deploy runner's `~/.pulumi` (the file backend) and for the
 * stacks' passphrase, which a deploy job gets from its environment: under .rig/, removed
 * by `rig down` with the rig.
 */

export function rigBackend(): FileBackend {
  return new FileBackend(path.join(rigStateDir, "backend"));
}

export function rigPassphraseFile(): string {
  const file = path.join(rigStateDir, "passphrase");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  }
  return file;
}

export function rigPassphrase(): string {
  return fs.readFileSync(rigPassphraseFile(), "utf8").trim();
}
