import { Subcommand } from "./command";
import { auditCliCommand } from "./audit";
import { rehearseCommand } from "./rehearse";
import { rigCommand } from "./rig";

/** Each subcommand lives in its own file; adding one means adding it here. */
export const subcommands: Subcommand[] = [rigCommand, rehearseCommand, auditCliCommand];
