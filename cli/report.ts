import { OpResult } from "../ops/common";
import { formatResult, refusal } from "./backend";
import { UsageError, printJson } from "./io";

/** Runs an operation; a refusal or an error before any change becomes a result with ok false. */
export async function reported(action: OpResult["action"], stack: string, json: boolean, run: () => Promise<OpResult>): Promise<number> {
  let result: OpResult;
  try {
    result = await run();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    result = refusal(action, stack, err instanceof Error ? err : new Error(String(err)));
  }
  if (json) printJson(result);
  else for (const line of formatResult(result)) console.log(line);
  return result.ok ? 0 : 1;
}
