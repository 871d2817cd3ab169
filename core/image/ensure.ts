/**
 * ig's image policy before it uses a gadget (pkg/oci/oci.go ensureImage, shared by `run`,
 * `image inspect` and `image verify`):
 *
 * 1. the pull policy: `always` pulls, `missing` pulls when the store lacks the image, `never`
 *    only checks the store (`--disallow-pulling` refuses any pull: "pulling is disallowed");
 * 2. `--allowed-gadgets`: the normalized name, `name@digest`, or a prefix ending in `*` must match
 *    ("%s is not part of allowed gadgets: %v");
 * 3. signature verification (unless `--verify-image=false`, which ig warns about): signatures the
 *    store lacks are fetched from the image's registry first (legacy `.sig` tag, OCI 1.1
 *    referrers, sigstore bundles — ig's signature pullers), then checked with the public keys.
 *    A registry without signatures, an unreachable one or one that refuses is reported with ig's
 *    words (pkg/oci/signature_error.go signaturePullError).
 */
import { GadgetError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { formatReference, parseReference, referenceName } from "../oci/reference.js";
import type { Descriptor } from "../oci/model.js";
import type { TransferOptions } from "../registry/open.js";
import type { PublicKey } from "../sign/keys.js";
import { LayoutStore } from "../store/layout-store.js";

export type PullPolicy = "always" | "missing" | "never";
export const PULL_POLICIES: readonly PullPolicy[] = ["always", "missing", "never"];

export interface EnsureOptions extends TransferOptions {
  pull?: PullPolicy;
  disallowPulling?: boolean;
  allowedGadgets?: string[];
  /** Verify the signature (ig's default: true). */
  verify?: boolean;
  publicKeys?: PublicKey[];
  /** How to turn verification off, for the hints (ig: "run … with --verify-image=false"); none: not mentioned. */
  skipVerification?: string;
  /** The hint when the registry has no signature (default: ig's advice to skip verification). */
  noSignatureHint?: string;
  onWarning?: (message: string) => void;
}

export interface EnsuredImage {
  /** The normalized reference. */
  reference: string;
  descriptor: Descriptor;
  pulled: boolean;
  /** Set when the signature was checked. */
  verified?: { format: string; key: string };
}


/** ig's match of --allowed-gadgets entries: exact name or name@digest, or a prefix with a trailing `*`. */
export function allowedGadget(normalized: string, withDigest: string, allowed: string[]): boolean {
  return allowed.some((a) => a === normalized || a === withDigest || (a.endsWith("*") && normalized.startsWith(a.slice(0, -1))));
}

async function tryResolve(store: LayoutStore, reference: string): Promise<Descriptor | undefined> {
  try {
    return await store.resolve(reference);
  } catch (e) {
    if (e instanceof GadgetError && e.code === "NOT_FOUND") return undefined;
    throw e;
  }
}

export async function ensureImage(image: string, opts: EnsureOptions): Promise<EnsuredImage> {
  const ref = parseReference(image);
  const normalized = formatReference(ref);
  const store = await LayoutStore.open(opts.storeDir);
  const policy = opts.pull ?? "missing";
  let pulled = false;
  const pull = async () => {
    if (opts.disallowPulling) throw new GadgetError({ what: `pulling image (${policy}) ${JSON.stringify(image)}`, which: normalized, why: "pulling is disallowed", hint: "drop --disallow-pulling, or import the image with `gadget image import`" });
    const { pullImage } = await import("./pull.js");
    const { onWarning, ...transfer } = opts;
    await pullImage({ ...transfer, reference: image, ...(onWarning ? { onWarning } : {}) });
    pulled = true;
  };
  if (policy === "always") await pull();
  else if (policy === "missing" && !(await tryResolve(store, image))) await pull();
  const descriptor = await tryResolve(store, image);
  if (!descriptor) {
    throw new GadgetError({ what: "resolving image on local registry", which: normalized, why: "not found", hint: policy === "never" ? "pull it first, or use --pull missing" : undefined, code: "NOT_FOUND" });
  }

  if (opts.allowedGadgets && opts.allowedGadgets.length > 0) {
    const withDigest = `${referenceName(ref)}@${descriptor.digest}`;
    if (!allowedGadget(normalized, withDigest, opts.allowedGadgets)) {
      throw new GadgetError({ what: "checking allowed gadgets", which: image, why: `${image} is not part of allowed gadgets: ${opts.allowedGadgets.join(", ")}`, code: "DENIED" });
    }
  }

  if (opts.verify === false) {
    opts.onWarning?.("image signature verification is disabled due to using corresponding option");
    return { reference: normalized, descriptor, pulled };
  }
  const verified = await verifyWithRemoteSignatures(store, image, descriptor.digest, opts);
  return { reference: normalized, descriptor, pulled, verified };
}

/**
 * Verify the image's signature, fetching the signatures the store lacks from the image's
 * registry first (ig pulls them the same way when it verifies).
 */
export async function verifyWithRemoteSignatures(store: LayoutStore, image: string, digest: Digest, opts: EnsureOptions): Promise<{ format: string; key: string }> {
  const { loadCandidates, verifyImage } = await import("../sign/verify.js");
  const ref = parseReference(image);
  const named = ref.tag ? formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag }) : `${referenceName(ref)}@${digest}`;
  const skip = opts.skipVerification;
  if ((await loadCandidates(store, digest)).candidates.length === 0) {
    const { openRemoteRepository, parseConcurrency } = await import("../registry/open.js");
    const { pullSignatures } = await import("../sign/transfer.js");
    const concurrency = parseConcurrency(opts.concurrency) ?? 4;
    let fetched;
    try {
      const repo = await openRemoteRepository(ref, { ...opts, concurrency });
      try {
        fetched = await pullSignatures(repo, store, digest, { concurrency });
      } finally {
        await repo.client.close();
      }
    } catch (e) {
      throw signaturePullError(named, ref.registry, e, skip);
    }
    if (fetched.length === 0) {
      const hint = opts.noSignatureHint ?? (skip ? `if the gadget is not signed and you are sure you want to skip signature verification, ${skip}` : undefined);
      throw new GadgetError({ what: "verifying image", which: named, why: `no signature found for gadget ${named}`, hint, code: "NO_SIGNATURE" });
    }
  }
  if (!opts.publicKeys || opts.publicKeys.length === 0) {
    throw new GadgetError({ what: "verifying image", which: named, why: "no public keys given", hint: "pass --public-keys cosign.pub", exitCode: 2, code: "USAGE" });
  }
  const r = await verifyImage(store, image, opts.publicKeys);
  return { format: r.format, key: r.key };
}

/** ig's signaturePullError: three situations with their own advice, anything else as it is. */
export function signaturePullError(image: string, registry: string, e: unknown, skip?: string): GadgetError {
  const code = e instanceof GadgetError ? e.code : undefined;
  if (code === "UNAUTHORIZED" || code === "DENIED" || code === "AUTH") {
    return new GadgetError({ what: "verifying image", which: image, why: `not authorized to fetch the signature for gadget ${image}`, hint: skip ? `log in to ${registry}, or ${skip}` : `log in to ${registry}`, code, cause: e });
  }
  if (code === "NETWORK" || code === "TLS") {
    return new GadgetError({
      what: "verifying image",
      which: image,
      why: `fetching the signature for gadget ${image}: ${registry} is unreachable`,
      hint: `if you are running air-gapped, pull the gadget while online, as its signature is pulled along with it${skip ? `; otherwise ${skip}` : ""}`,
      code,
      cause: e,
    });
  }
  return new GadgetError({ what: "verifying image", which: image, why: `pulling gadget signature ${JSON.stringify(image)}: ${(e as Error).message}`, code, cause: e });
}
