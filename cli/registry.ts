import { Subcommand } from "./command";

/** Each subcommand lives in its own file; adding one means adding it here. */
export const subcommands: Subcommand[] = [];
