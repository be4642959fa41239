import * as fs from "node:fs";

/*
 * Is a recorded process still the one that wrote the record? A pid alone can be reused;
 * pid + start time (clock ticks since boot, /proc/<pid>/stat field 22) + boot id cannot.
 * The agent runs with the host's pid namespace, so these are the host's pids.
 */

export interface Processes {
  bootId(): string;
  /** Start time of a live process, or null when there is none with that pid. */
  startOf(pid: number): number | null;
}

export const hostProcesses: Processes = {
  bootId() {
    try {
      return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      return "unknown";
    }
  },
  startOf(pid) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const start = Number(fields[19]);
      return Number.isFinite(start) ? start : null;
    } catch {
      return null;
    }
  },
};
