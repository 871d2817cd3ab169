/**
 * The registry flags every transfer command shares (--authfile, --insecure-registries, --insecure,
 * --cert-dir, --concurrency, --timeout). GADGET_REGISTRY_RETRIES overrides the number of retries
 * (default 4); GADGET_REGISTRY_TIMEOUT is --timeout's default.
 */
import { usageError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { parseConcurrency, type TransferOptions } from "../registry/open.js";
import { registryTimeouts } from "../registry/timeouts.js";

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
  opts.timeouts = registryTimeouts(ctx.flagString("timeout"), ctx.env);
  if (ctx.verbose) opts.onDebug = (line) => ctx.warn(line);
  const retries = ctx.env.GADGET_REGISTRY_RETRIES;
  if (retries !== undefined && /^\d+$/.test(retries)) opts.retry = { retries: Number(retries) };
  return opts;
}
