import type { HostLayout } from "../contract/layout";
import type { ProgressEvent } from "../contract/records";
import type { Clock } from "./clock";
import type { ComposeFactory } from "./compose";
import type { Docker } from "./docker";
import type { Http } from "./http";
import type { Processes } from "./processes";

/*
 * Everything the orchestration touches outside its own files, in one object: the real
 * one drives the docker and compose CLIs (main.ts), the unit tier's a fake host.
 */

/** Starts the agent detached from the current process (a container of its own on a host). */
export interface Launcher {
  detach(name: string, argv: string[]): Promise<void>;
  /**
   * Keeps `argv` run by dockerd whenever it starts (a container with restart policy
   * unless-stopped), so that a reboot or a dockerd restart runs it without systemd or cron.
   * Recreates the container only when what it runs changed.
   */
  atEveryStart(name: string, argv: string[]): Promise<"created" | "unchanged">;
}

export interface Output {
  /** Progress and messages for a human (stderr). */
  say(text: string): void;
  /** The command's result (stdout). */
  print(text: string): void;
}

export interface Agent {
  root: string;
  docker: Docker;
  compose: ComposeFactory;
  http: Http;
  clock: Clock;
  processes: Processes;
  launcher: Launcher;
  hostname: string;
  /** Who runs the command (--actor, or the invoking user). */
  who: string;
  pid: number;
  /**
   * The host pid of the SSH session's `docker run` that started this client (the bootstrap
   * passes it): when it is gone, nobody reads this client's output any more, so a verdict is
   * not marked as received (the next client with the same request gets it).
   */
  clientPid?: number;
  out: Output;
  /** Called with every progress event a run writes; the unit tier stops a run here to crash it. */
  onEvent?: (event: ProgressEvent) => void | Promise<void>;
}

/** A failure that ends a command with a message for the operator (what went wrong, what to do next). */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

export type { HostLayout };
