// Pulumi entry point: the engine calls the exported function and records what it
// returns as the stack's outputs. The program itself is in wepppyStack.ts.
import { wepppyStack } from "./wepppyStack";

export = wepppyStack;
