/**
 * Transfer options shared by push and pull (and signing): which registries are plain HTTP,
 * where TLS material and credentials come from, concurrency — turned into a RemoteRepository.
 */
import { getCredential } from "../auth/credentials.js";
import type { Credential } from "../auth/credential.js";
import { keyToHost } from "../auth/docker-config.js";
import type { Reference } from "../oci/reference.js";
import { RegistryClient, type RetryPolicy } from "./client.js";
import { RemoteRepository } from "./repository.js";
import { registryTimeouts, type RegistryTimeouts } from "./timeouts.js";
import { parseConcurrency } from "./concurrency.js";

export { parseConcurrency };

export interface TransferOptions {
  /** Local OCI store directory. */
  storeDir: string;
  /** Image reference (normalized as ig does). */
  reference: string;
  /** Auth file (default: REGISTRY_AUTH_FILE, then ~/.ig/config.json or /var/lib/ig/config.json, then docker's). */
  authfile?: string;
  /** Registries (host[:port]) reached over plain HTTP. */
  insecureRegistries?: string[];
  /** Older ig's boolean --insecure: plain HTTP for the reference's registry. */
  insecure?: boolean;
  /** docker certs.d-style folder (ca.crt, client.cert, client.key). */
  certDir?: string;
  /** Parallel transfers (default 4). */
  concurrency?: number;
  env?: NodeJS.ProcessEnv;
  /** Transfer events (see ProgressEvent). */
  onProgress?: (e: unknown) => void;
  /** One line per HTTP exchange, without secrets (for -v). */
  onDebug?: (line: string) => void;
  retry?: Partial<RetryPolicy>;
  /** Overall deadline and idle timeout (default: GADGET_REGISTRY_TIMEOUT from env, else 10 min / 30 s). */
  timeouts?: RegistryTimeouts;
  /** Aborts the transfer at once (SIGINT/SIGTERM): every request fails with the signal's reason. */
  signal?: AbortSignal;
}

export function isInsecureRegistry(registry: string, list: string[] | undefined): boolean {
  const r = registry.toLowerCase();
  return (list ?? []).some((e) => keyToHost(e) === r);
}

export async function openRemoteRepository(
  ref: Reference,
  opts: Omit<TransferOptions, "storeDir" | "reference"> & { credential?: Credential; intent?: "pull" | "push" },
): Promise<RemoteRepository> {
  const env = opts.env ?? process.env;
  const plainHttp = Boolean(opts.insecure) || isInsecureRegistry(ref.registry, opts.insecureRegistries);
  const credential = opts.credential ?? (await getCredential(ref.registry, { authfile: opts.authfile, env }));
  if (credential && opts.onDebug) opts.onDebug(`using credentials for ${ref.registry} from ${credential.source ?? "the auth file"}`);
  const client = await RegistryClient.create({
    registry: ref.registry,
    plainHttp,
    certDir: opts.certDir,
    credential,
    concurrency: opts.concurrency,
    retry: opts.retry,
    timeouts: opts.timeouts ?? registryTimeouts(undefined, env),
    onDebug: opts.onDebug,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return new RemoteRepository(client, ref.repository, { intent: opts.intent ?? "pull" });
}
