/**
 * The registry flags every transfer command shares (--authfile, --insecure-registries, --insecure,
 * --cert-dir, --concurrency, --timeout). GADGET_REGISTRY_RETRIES overrides the number of retries
 * (default 4); GADGET_REGISTRY_TIMEOUT is --timeout's default.
 */
import { resolve } from "node:path";
import { usageError } from "../errors.js";
import type { CommandContext } from "./context.js";
import type { TransferOptions } from "../registry/open.js";
import { parseConcurrency } from "../registry/concurrency.js";
import { registryTimeouts } from "../registry/timeouts.js";

export function transferOptionsFromFlags(ctx: CommandContext, reference: string): TransferOptions {
  const c = parseConcurrency(ctx.flagString("concurrency"));
  if (c !== undefined && Number.isNaN(c)) throw usageError(`invalid --concurrency ${JSON.stringify(ctx.flagString("concurrency"))}: expected a whole number from 1 to 64`);
  const opts: TransferOptions = {
    storeDir: ctx.storeDir(),
    reference,
    env: ctx.env,
    insecureRegistries: [...ctx.flagList("insecure-registries"), ...(ctx.env[INSECURE_REGISTRIES_ENV] ?? "").split(",").filter(Boolean)],
    insecure: ctx.flagBool("insecure"),
  };
  const authfile = ctx.flagString("authfile");
  if (authfile) opts.authfile = authfile;
  const certDir = ctx.flagString("cert-dir") || ctx.env[CERT_DIR_ENV];
  if (certDir) opts.certDir = certDir;
  if (c !== undefined) opts.concurrency = c;
  opts.timeouts = registryTimeouts(ctx.flagString("timeout"), ctx.env);
  if (ctx.verbose) opts.onDebug = (line) => ctx.warn(line);
  opts.signal = ctx.signal;
  const retries = ctx.env.GADGET_REGISTRY_RETRIES;
  if (retries !== undefined && /^\d+$/.test(retries)) opts.retry = { retries: Number(retries) };
  return opts;
}

/** The environment variables the run-level registry flags become (the push target reads them; so do push and pull). */
export const CERT_DIR_ENV = "GADGET_CERT_DIR";
export const INSECURE_REGISTRIES_ENV = "GADGET_INSECURE_REGISTRIES";

/**
 * `gadget run --authfile F --cert-dir D --insecure-registries H --timeout T` as the environment
 * the publish targets see (REGISTRY_AUTH_FILE, GADGET_CERT_DIR, GADGET_INSECURE_REGISTRIES,
 * GADGET_REGISTRY_TIMEOUT); a target's own options still win. Paths are made absolute here.
 */
export function registryEnv(ctx: Pick<CommandContext, "cwd" | "env" | "flagString" | "flagList">): Record<string, string> {
  const env: Record<string, string> = {};
  const authfile = ctx.flagString("authfile");
  if (authfile) env.REGISTRY_AUTH_FILE = resolve(ctx.cwd, authfile);
  const certDir = ctx.flagString("cert-dir");
  if (certDir) env[CERT_DIR_ENV] = resolve(ctx.cwd, certDir);
  const insecure = ctx.flagList("insecure-registries");
  if (insecure.length > 0) env[INSECURE_REGISTRIES_ENV] = [...insecure, ...(ctx.env[INSECURE_REGISTRIES_ENV] ?? "").split(",").filter(Boolean)].join(",");
  const timeout = ctx.flagString("timeout");
  if (timeout !== undefined) {
    registryTimeouts(timeout, ctx.env); // a bad duration is a usage error now, not in every push
    env.GADGET_REGISTRY_TIMEOUT = timeout;
  }
  return env;
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
