/*
 * The host contract: what the Pulumi program, the operator CLI, the benchmark and the host
 * agent agree on. No runtime dependencies (node built-ins only), so that it bundles into
 * the agent as it is.
 */
export * from "./digest";
export * from "./layout";
export * from "./records";
export * from "./settings";
export * from "./staging";
export * from "./traffic";
export { DocumentError } from "./check";
export * from "./envFile";
export * from "./evidence";
