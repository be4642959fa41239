import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ISSUED_ELSEWHERE, unsetIssued } from "../../render/composeLayout";

/**
 * Secrets another party issues (OAuth apps, e-mail, data APIs) come only from secret config,
 * and an unset one is written empty, which leaves that feature off (the set lives beside the
 * compose layouts, which adoption planning shares). Every other secret the compose layout
 * names is generated here, unless it was set in config (by an operator, or by
 * `wepppy-cicd adopt` from the host's own files).
 */
export { ISSUED_ELSEWHERE };

export interface WepppySecretsArgs {
  /**
   * The stack secrets the release's compose layout reads: its secret files in secrets/, or the
   * variables an older layout takes from .env (render/composeLayout.ts, stackSecretNames).
   */
  names: string[];
  /**
   * Values set with `pulumi config set --secret` (by hand, or adopted byte for byte from the
   * host): such a secret is never generated, so adopting a host cannot replace its password.
   */
  provided: Record<string, string>;
}

/** The value of every secret file the environment's compose stack mounts, all marked secret. */
export class WepppySecrets extends pulumi.ComponentResource {
  readonly values: pulumi.Output<Record<string, string>>;
  readonly generated: string[];
  readonly missing: string[];

  constructor(name: string, args: WepppySecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wepppy-cicd:index:WepppySecrets", name, {}, opts);
    const entries: Record<string, pulumi.Output<string>> = {};
    this.generated = [];
    this.missing = unsetIssued(args.names, args.provided);
    for (const secret of args.names) {
      if (secret in args.provided) {
        entries[secret] = pulumi.secret(args.provided[secret]);
      } else if (this.missing.includes(secret)) {
        entries[secret] = pulumi.secret("");
      } else {
        this.generated.push(secret);
        const password = new random.RandomPassword(
          `${name}-${secret}`,
          // Alphanumeric only: wepppy builds URLs and .pgpass lines from some of these, and an
          // older layout carries them in .env (render/composeLayout.ts, envSafeValue).
          { length: 48, special: false },
          // Protected: once a database or a session was set up with it, replacing or deleting it
          // (a destroy, a changed argument, a refactor that renames it) would lock the app out of
          // its own data. To hand it over to config later, `pulumi state unprotect` it first.
          { parent: this, protect: true },
        );
        entries[secret] = password.result;
      }
    }
    if (this.missing.length > 0) {
      pulumi.log.warn(
        `secrets not set, written empty (feature off): ${this.missing.join(", ")}; set with pulumi config set --secret --path 'wepppy-cicd:secrets.<name>'`,
        this,
      );
    }
    this.values = pulumi.secret(pulumi.all(entries));
    this.registerOutputs({ values: this.values });
  }
}
