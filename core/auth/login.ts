/**
 * `login`: check the credentials against the registry (GET /v2/ through the real basic or
 * bearer flow), then save them; `logout`; `--get-login`. Passwords never reach any output.
 */
import { GadgetError, withoutUserinfo } from "../errors.js";
import { RegistryClient } from "../registry/client.js";
import { registryTimeouts, type RegistryTimeouts } from "../registry/timeouts.js";
import { getCredential, notLoggedIn, removeAllCredentials, removeCredential, saveCredential } from "./credentials.js";
import { keyToHost } from "./docker-config.js";

export interface LoginOptions {
  username: string;
  password: string;
  authfile?: string;
  certDir?: string;
  tlsVerify?: boolean;
  plainHttp?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Deadline and idle timeout of the /v2/ check (default: GADGET_REGISTRY_TIMEOUT, else 10 min / 30 s). */
  timeouts?: RegistryTimeouts;
  onDebug?: (line: string) => void;
  /** Aborts the check at once (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/** `https://host/v2/` or `host/path` → `host`; docker.io stays docker.io. */
export function normalizeRegistryArg(registry: string): string {
  const h = keyToHost(registry);
  if (h.includes("@")) {
    throw new GadgetError({
      what: "invalid registry",
      which: JSON.stringify(withoutUserinfo(registry)),
      why: "a user name or password does not belong in the registry address",
      hint: "pass the user with -u USER and the password with --password-stdin",
      exitCode: 2,
      code: "USAGE",
    });
  }
  if (!h || !/^[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:]+\](:\d+)?$/i.test(h)) {
    throw new GadgetError({ what: "invalid registry", which: JSON.stringify(registry), why: "expected host[:port]", exitCode: 2, code: "USAGE" });
  }
  return h;
}

export async function login(registry: string, opts: LoginOptions): Promise<{ registry: string; savedTo: string }> {
  const host = normalizeRegistryArg(registry);
  if (!opts.username) throw new GadgetError({ what: "invalid usage", why: "a user name is required", hint: "pass -u USER", exitCode: 2, code: "USAGE" });
  if (!opts.password) throw new GadgetError({ what: "invalid usage", why: "a password is required", hint: "pass --password-stdin (or -p)", exitCode: 2, code: "USAGE" });
  const credential = { username: opts.username, password: opts.password };
  const client = await RegistryClient.create({
    registry: host,
    plainHttp: opts.plainHttp,
    certDir: opts.certDir,
    tlsVerify: opts.tlsVerify,
    credential,
    retry: { retries: 1 },
    timeouts: opts.timeouts ?? registryTimeouts(undefined, opts.env ?? process.env),
    onDebug: opts.onDebug,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  try {
    await client.ping();
  } catch (e) {
    if (e instanceof GadgetError && e.code === "TLS" && !opts.plainHttp && /insecure-registries/.test(e.hint ?? "")) {
      throw new GadgetError({ what: e.what, which: e.which, why: e.why, hint: `pass --cert-dir DIR with the registry's ca.crt, or --plain-http if ${host} serves plain HTTP`, code: e.code, cause: e });
    }
    if (e instanceof GadgetError && e.code === "TLS") {
      throw new GadgetError({ what: e.what, which: e.which, why: e.why, hint: `pass --cert-dir DIR with the registry's ca.crt (or --tls-verify=false)`, code: e.code, cause: e });
    }
    throw e;
  } finally {
    await client.close();
  }
  const savedTo = await saveCredential(host, credential, { authfile: opts.authfile, env: opts.env });
  return { registry: host, savedTo };
}

export async function getLogin(registry: string, opts: { authfile?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const host = normalizeRegistryArg(registry);
  const { authFileForWrite } = await import("./paths.js");
  const { readAuthConfig } = await import("./docker-config.js");
  const { credentialFromConfig } = await import("./credentials.js");
  // --get-login reads the file login writes (and its helpers), like podman
  const path = authFileForWrite({ authfile: opts.authfile, env: opts.env }).path;
  const cfg = await readAuthConfig(path);
  const c = cfg ? await credentialFromConfig(cfg, host, path, opts.env ?? process.env) : await getCredential(host, opts);
  if (!c || (!c.username && !c.identityToken)) throw notLoggedIn(host);
  return c.username || "<token>";
}

export async function logout(registry: string | undefined, opts: { all?: boolean; authfile?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  if (opts.all) {
    await removeAllCredentials({ authfile: opts.authfile, env: opts.env });
    return "all registries";
  }
  if (!registry) throw new GadgetError({ what: "invalid usage", why: "logout needs a REGISTRY or --all", exitCode: 2, code: "USAGE" });
  const host = normalizeRegistryArg(registry);
  await removeCredential(host, { authfile: opts.authfile, env: opts.env });
  return host;
}
