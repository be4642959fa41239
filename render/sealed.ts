import { inspect } from "node:util";

/**
 * A value read from a host that must not be printed: its JSON, its string form and what
 * console.log / util.inspect show are all "[secret]", so a plan printed with --json, an
 * error message or a debug log cannot carry it by accident. `reveal()` is the one way in,
 * for the code that pipes it into `pulumi config set --secret` on stdin.
 */
export class Sealed<T> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toJSON(): string {
    return "[secret]";
  }

  toString(): string {
    return "[secret]";
  }

  [inspect.custom](): string {
    return "[secret]";
  }
}

export function seal<T>(value: T): Sealed<T> {
  return new Sealed(value);
}
