/**
 * What a registry holds, without pulling: `gadget image tags REPO` (the tag list, every page of
 * it) and `gadget image digest REF` (the digest a tag points at, from one HEAD).
 */
import { GadgetError, usageError } from "../errors.js";
import { formatReference, parseReference, referenceName } from "../oci/reference.js";
import type { Descriptor } from "../oci/model.js";
import { openRemoteRepository, type TransferOptions } from "../registry/open.js";
import { hasExplicitTag } from "./locations.js";

export type RemoteInfoOptions = Omit<TransferOptions, "storeDir">;

export interface TagList {
  repository: string;
  tags: string[];
}

export async function listTags(opts: RemoteInfoOptions): Promise<TagList> {
  const text = opts.reference.replace(/^docker:\/\//, "");
  const ref = parseReference(text);
  if (hasExplicitTag(text)) throw usageError(`${JSON.stringify(opts.reference)} names a tag or digest: give the repository`, `gadget image tags ${referenceName(ref)}`);
  const repo = await openRemoteRepository(ref, opts);
  try {
    const tags = await repo.tags();
    return { repository: referenceName(ref), tags };
  } finally {
    await repo.client.close();
  }
}

export interface RemoteDigest {
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
}

export async function remoteDigest(opts: RemoteInfoOptions): Promise<RemoteDigest> {
  const ref = parseReference(opts.reference.replace(/^docker:\/\//, ""));
  const repo = await openRemoteRepository(ref, opts);
  try {
    let d: Descriptor;
    try {
      d = await repo.resolve(ref.digest ?? ref.tag ?? "latest");
    } catch (e) {
      if (e instanceof GadgetError && e.code === "NOT_FOUND") {
        throw new GadgetError({ what: "resolving image", which: formatReference(ref), why: "not found: no such tag or digest in the registry", hint: "`gadget image tags` lists the repository's tags", code: "NOT_FOUND" });
      }
      throw e;
    }
    return { reference: formatReference(ref), digest: d.digest, mediaType: d.mediaType, size: d.size };
  } finally {
    await repo.client.close();
  }
}
