import { Subcommand } from "./command";
import { auditCliCommand } from "./audit";
import { benchCommand } from "./bench";
import { promoteCommand } from "./promote";
import { rehearseCommand } from "./rehearse";
import { releaseCommand } from "./release";
import { rigCommand } from "./rig";
import { rollbackCommand } from "./rollback";
import { statusCommand } from "./status";

/** Each subcommand lives in its own file; adding one means adding it here. */
export const subcommands: Subcommand[] = [
  rigCommand,
  rehearseCommand,
  auditCliCommand,
  releaseCommand,
  promoteCommand,
  rollbackCommand,
  statusCommand,
  benchCommand,
];
