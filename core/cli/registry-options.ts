/**
 * The registry flags every transfer command shares (--authfile, --insecure-registries, --insecure,
 * --cert-dir, --concurrency). GADGET_REGISTRY_RETRIES overrides the number of retries (default 4).
 */
import { usageError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { parseConcurrency, type TransferOptions } from "../registry/open.js";

export function transferOptionsFromFlags(ctx: CommandContext, reference: string): TransferOptions {
  const c = parseConcurrency(ctx.flagString("concurrency"));
  if (c !== undefined && Number.isNaN(c)) throw usageError(`invalid --concurrency ${JSON.stringify(ctx.flagString("concurrency"))}: expected a whole number from 1 to 64`);
  const opts: TransferOptions = {
    storeDir: ctx.storeDir(),
    reference,
    env: ctx.env,
    insecureRegistries: ctx.flagList("insecure-registries"),
    insecure: ctx.flagBool("insecure"),
  };
  const authfile = ctx.flagString("authfile");
  if (authfile) opts.authfile = authfile;
  const certDir = ctx.flagString("cert-dir");
  if (certDir) opts.certDir = certDir;
  if (c !== undefined) opts.concurrency = c;
  if (ctx.verbose) opts.onDebug = (line) => ctx.warn(line);
  const retries = ctx.env.GADGET_REGISTRY_RETRIES;
  if (retries !== undefined && /^\d+$/.test(retries)) opts.retry = { retries: Number(retries) };
  return opts;
}

/**
 * login/logout's auth file: `--authfile`, or containers/common's `--compat-auth-file` (a
 * Docker-compatible config file to use instead; gadget's auth files are in that format anyway).
 */
export function authFileFlag(ctx: CommandContext): string | undefined {
  const a = ctx.flagString("authfile");
  const c = ctx.flagString("compat-auth-file");
  if (a !== undefined && c !== undefined) throw usageError("options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously");
  return c ?? a;
}
