/*
 * What an update prints reaches the operator's terminal, a public CI log, the audit note
 * and the webhook. The command provider puts a failed command's whole output into its
 * error whatever `logging` says ("Process exited with status N: running "<cmd>":\n<output>",
 * pulumi-command commandOutputs.go:100-102), and the engine hides only secret config
 * values, not generated ones. So before any of that goes anywhere: the quoted output is
 * withheld (the host's audit log keeps what the host wants known), the command is cut to
 * its first words, and every known secret value is replaced.
 */

const FAILED_COMMAND = /Process exited with status (\d+)((?: from signal \w+)?(?:\. Reason was: [^:]*)?): running "((?:[^"\\]|\\.)*)":/;

const WITHHELD = "(its output withheld: it may carry secrets or app logs; see the host's audit log)";

/** The first words of a quoted command line, enough to say which one failed. */
function commandHead(quoted: string): string {
  const text = quoted.replace(/\\n/g, " ").replace(/\\"/g, '"');
  const words = text.split(/\s+/).filter(Boolean);
  return words.slice(0, 4).join(" ") + (words.length > 4 ? " ..." : "");
}

export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const v of [...secrets].filter((s) => s.length >= 3 && s !== "true" && s !== "false").sort((a, b) => b.length - a.length)) out = out.split(v).join("[secret]");
  return out;
}

/** A whole update text: each failed command's quoted output dropped, secrets replaced. */
export function redactUpdateText(text: string, secrets: Iterable<string> = []): string {
  const lines = text.split("\n");
  const out: string[] = [];
  let withholding = false;
  for (const line of lines) {
    const m = FAILED_COMMAND.exec(line);
    if (m) {
      out.push(`${line.slice(0, m.index)}Process exited with status ${m[1]}${m[2]}: running "${commandHead(m[3])}" ${WITHHELD}`);
      withholding = true;
      continue;
    }
    // The quoted output runs until the next diagnostic of the update.
    if (withholding && !/^\s*(error|warning|info):|^\s*(Diagnostics|Resources|Outputs|Duration):|^ stderr: |^ err\?: /.test(line)) continue;
    withholding = false;
    out.push(line);
  }
  return redactSecrets(out.join("\n"), secrets);
}

/** The same for text that arrives in chunks (an update's streamed output), line by line. */
export function redactingLines(secrets: Iterable<string>, emit: (line: string) => void) {
  const known = [...secrets];
  let withholding = false;
  return (line: string) => {
    const m = FAILED_COMMAND.exec(line);
    if (m) {
      withholding = true;
      emit(redactUpdateText(line, known));
      return;
    }
    if (withholding && !/^\s*(error|warning|info):|^\s*(Diagnostics|Resources|Outputs|Duration):/.test(line)) return;
    withholding = false;
    emit(redactSecrets(line, known));
  };
}

/** Every secret value a config holds (whole values and, for sections, their leaves). */
export function secretValuesOf(map: Record<string, { value?: string; secret?: boolean }>): string[] {
  const leaves = (v: unknown): string[] =>
    typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(leaves) : typeof v === "object" && v !== null ? Object.values(v).flatMap(leaves) : [];
  return Object.values(map)
    .filter((e) => e.secret && typeof e.value === "string")
    .flatMap((e) => {
      try {
        return [e.value!, ...leaves(JSON.parse(e.value!))];
      } catch {
        return [e.value!];
      }
    });
}
