/**
 * `gadget image copy SRC DST`: one verb for pull, push, export, import and registry-to-registry
 * copies. Opens the two locations (locations.ts) as endpoints — a registry repository, the local
 * store, an OCI layout folder, or an OCI-layout tar (staged in a temp layout) — lists the images to
 * copy (one, or every tag with allTags), copies each with copyRoot, tags it at the destination
 * (unless that tag already points at it) and carries its signatures.
 * A local destination that fails is left as it was: blobs written for a failed image that nothing
 * references are removed, and no tag is added.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GadgetError, usageError } from "../errors.js";
import type { ReadOnlyTarget, Storage, Target } from "../oci/content.js";
import type { Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/model.js";
import { formatReference, isSignatureTag, parseReference, referenceName, type Reference } from "../oci/reference.js";
import { openRemoteRepository, parseConcurrency, type TransferOptions } from "../registry/open.js";
import type { RemoteRepository } from "../registry/repository.js";
import type { TransferredSignature } from "../sign/transfer.js";
import { isSignatureTagName } from "../sign/constants.js";
import { LayoutStore, refNameOf } from "../store/layout-store.js";
import { copyImageSignatures, copyRoot } from "./copy.js";
import { parseLocation, type Location } from "./locations.js";

export type CopyImagesOptions = Omit<TransferOptions, "reference"> & {
  source: string;
  destination: string;
  /** Every tag of the source repository (registry) or every image (local). */
  allTags?: boolean;
  skipSignatures?: boolean;
  /** One line per image copied. */
  onImage?: (r: CopiedImage) => void;
  /** Each node (blob or manifest) of an image as it lands at the destination or is found there. */
  onNode?: (e: { image: string; desc: Descriptor; how: "copied" | "skipped" }) => void;
};

export interface CopiedImage {
  source: string;
  destination: string;
  digest: string;
  /** Nodes written, skipped (already there) and mounted at the destination. */
  copied: number;
  skipped: number;
  mounted: number;
  bytes: number;
  /** The tag at the destination was written (false: it already named this digest). */
  tagged: boolean;
  signatures: TransferredSignature[];
}

export interface CopyImagesResult {
  images: CopiedImage[];
  /** Requests the destination registry got, when it is one (uploads, mounts, manifest PUTs). */
  destinationStats?: RemoteRepository["stats"];
}

/** One image a source offers. */
interface SourceImage {
  /** Printable name (a full reference, or a layout's ref name). */
  name: string;
  /** The tag part, when it has one. */
  tag?: string;
  resolve(): Promise<Descriptor>;
}

interface SourceEndpoint {
  target: ReadOnlyTarget;
  images(allTags: boolean): Promise<SourceImage[]>;
  repo?: RemoteRepository;
  close(): Promise<void>;
}

interface DestEndpoint {
  target: Target;
  storage: Storage;
  repo?: RemoteRepository;
  store?: LayoutStore;
  /** Printable destination name for a source image. */
  nameFor(img: SourceImage): string;
  /** Push the root straight under its tag (registries). */
  pushRoot?(img: SourceImage, desc: Descriptor, bytes: Uint8Array): Promise<boolean>;
  /** Tag the copied root; false when it already was. */
  tagImage(img: SourceImage, desc: Descriptor, rootPushed: boolean): Promise<boolean>;
  /** After every image (an archive is written now). */
  commit(): Promise<void>;
  close(): Promise<void>;
}

const copyError = (which: string, why: string, hint?: string, code?: GadgetError["code"]) => new GadgetError({ what: "copying image", which, why, hint, code });

function isNotFound(e: unknown): boolean {
  return e instanceof GadgetError && e.code === "NOT_FOUND";
}

// ---- sources ------------------------------------------------------------------------------

async function openRegistrySource(loc: Extract<Location, { kind: "registry" }>, opts: CopyImagesOptions): Promise<SourceEndpoint> {
  const repo = await openRemoteRepository(loc.ref, { ...opts, intent: "pull" });
  const one = (ref: Reference): SourceImage => {
    const img: SourceImage = {
      name: formatReference(ref),
      resolve: async () => {
        try {
          return (await repo.fetchManifest(ref.digest ?? ref.tag ?? "latest")).descriptor;
        } catch (e) {
          if (isNotFound(e)) throw new GadgetError({ what: "resolving image", which: formatReference(ref), why: "not found: no such tag or digest in the registry", hint: "check the name and tag (`gadget image tags` lists the repository)", code: "NOT_FOUND" });
          throw e;
        }
      },
    };
    if (ref.tag) img.tag = ref.tag;
    return img;
  };
  return {
    target: repo,
    repo,
    async images(allTags) {
      if (!allTags) return [one(loc.ref)];
      if (loc.explicitTag) throw usageError(`--all-tags copies every tag of a repository: ${JSON.stringify(loc.text)} names one image`, `write the source without a tag: ${referenceName(loc.ref)}`);
      const tags = (await repo.tags()).filter((t) => !isSignatureTagName(t) && !isSignatureTag(t));
      if (tags.length === 0) throw copyError(referenceName(loc.ref), "the repository has no tags", undefined, "NOT_FOUND");
      return tags.map((t) => one({ registry: loc.ref.registry, repository: loc.ref.repository, tag: t }));
    },
    close: () => repo.client.close(),
  };
}

/** A layout's ref name as given (skopeo's bare tags), else the normalized reference. */
async function findLocal(store: LayoutStore, image: string): Promise<Descriptor> {
  const exact = (await store.entries()).find((e) => refNameOf(e) === image);
  if (exact) return exact;
  return store.resolve(image);
}

function tagOf(name: string): string | undefined {
  if (!name.includes("/") && !name.includes(":") && !name.includes("@")) return name; // a bare tag
  try {
    return parseReference(name).tag;
  } catch {
    return undefined;
  }
}

function localSource(store: LayoutStore, image: string | undefined, label: string, cleanup: () => Promise<void>): SourceEndpoint {
  const entry = (name: string): SourceImage => {
    const img: SourceImage = { name, resolve: () => findLocal(store, name) };
    const t = tagOf(name);
    if (t) img.tag = t;
    return img;
  };
  return {
    target: store,
    async images(allTags) {
      if (allTags && image) throw usageError(`--all-tags copies every image of ${label}: leave out the image name (${JSON.stringify(image)})`);
      if (image) {
        await findLocal(store, image); // not found → a clear error before anything is written
        const stored = (await store.entries()).find((e) => refNameOf(e) === image) ? image : formatReferenceOrSelf(image);
        return [entry(stored)];
      }
      const names = (await store.entries()).map(refNameOf).filter((n): n is string => n !== undefined && !isSignatureTag(n) && !isSignatureTagName(n));
      if (allTags) {
        if (names.length === 0) throw copyError(label, "has no tagged images", undefined, "NOT_FOUND");
        return [...new Set(names)].map(entry);
      }
      if (names.length === 1) return [entry(names[0]!)];
      throw usageError(`${label} holds ${names.length === 0 ? "no tagged image" : `${names.length} images`}: name one (${label}:IMAGE) or pass --all-tags`);
    },
    close: cleanup,
  };
}

function formatReferenceOrSelf(image: string): string {
  try {
    return formatReference(parseReference(image));
  } catch {
    return image;
  }
}

async function openSource(loc: Location, opts: CopyImagesOptions): Promise<SourceEndpoint> {
  switch (loc.kind) {
    case "registry":
      return openRegistrySource(loc, opts);
    case "store":
      return localSource(await LayoutStore.open(opts.storeDir, { create: false }), loc.image, "the local store", async () => {});
    case "oci": {
      const store = await LayoutStore.open(loc.dir, { create: false });
      return localSource(store, loc.image, loc.text.slice(0, loc.text.length - (loc.image ? loc.image.length + 1 : 0)), async () => {});
    }
    case "oci-archive": {
      const dir = await mkdtemp(join(tmpdir(), "gadget-copy-src-"));
      const cleanup = () => rm(dir, { recursive: true, force: true });
      try {
        const { importImages } = await import("./import.js"); // archives only: not loaded for registry copies
        await importImages({ storeDir: dir, file: loc.file });
        return localSource(await LayoutStore.open(dir), loc.image, `oci-archive:${loc.file}`, cleanup);
      } catch (e) {
        await cleanup();
        throw e;
      }
    }
  }
}

// ---- destinations -------------------------------------------------------------------------

async function openRegistryDestination(loc: Extract<Location, { kind: "registry" }>, opts: CopyImagesOptions, allTags: boolean): Promise<DestEndpoint> {
  if (allTags && loc.explicitTag) throw usageError(`with --all-tags the destination is a repository: ${JSON.stringify(loc.text)} names a tag`, `write it without one: ${referenceName(loc.ref)}`);
  const repo = await openRemoteRepository(loc.ref, { ...opts, intent: "push" });
  const tagFor = (img: SourceImage): string | undefined => {
    if (loc.explicitTag) return loc.ref.tag; // undefined for a digest-only destination
    if (img.tag) return img.tag;
    throw usageError(`the source ${img.name} has no tag: give the destination one (${referenceName(loc.ref)}:TAG)`);
  };
  return {
    target: repo,
    storage: repo,
    repo,
    nameFor(img) {
      const t = tagFor(img);
      return t ? `${referenceName(loc.ref)}:${t}` : `${referenceName(loc.ref)}@${loc.ref.digest}`;
    },
    async pushRoot(img, desc, bytes) {
      const t = tagFor(img);
      if (!t) return false;
      await repo.pushManifest(bytes, desc.mediaType, t);
      return true;
    },
    async tagImage(img, desc, rootPushed) {
      if (loc.ref.digest && loc.ref.digest !== desc.digest) {
        throw copyError(loc.text, `the destination names digest ${loc.ref.digest} but the image is ${desc.digest}`, "give the destination a tag, or the image's own digest", "DIGEST_MISMATCH");
      }
      const t = tagFor(img);
      if (!t || rootPushed) return rootPushed;
      const current = await repo.resolve(t).catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
      if (current?.digest === desc.digest) return false;
      await repo.tag(desc, t);
      return true;
    },
    commit: async () => {},
    close: () => repo.client.close(),
  };
}

function localDestination(store: LayoutStore, image: string | undefined, exact: boolean, allTags: boolean, label: string, commit: (names: string[]) => Promise<void>, close: () => Promise<void>): DestEndpoint {
  if (allTags && image) throw usageError(`with --all-tags every image keeps its name: leave out the image name after ${label}`);
  const written: string[] = [];
  const nameFor = (img: SourceImage): string => {
    const n = image ?? img.name;
    if (exact) return n;
    try {
      const ref = parseReference(n);
      if (!ref.tag) throw usageError(`the source ${img.name} has no tag: name the destination (${label}:IMAGE)`);
      return formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
    } catch (e) {
      if (e instanceof GadgetError && e.code === "USAGE") throw e;
      throw usageError(`${JSON.stringify(n)} is not a usable image name for ${label}`, `name the destination: ${label}:IMAGE`);
    }
  };
  // a present index or manifest counts only with its whole graph present and intact (as pull):
  // the copy skips a present node's subtree, and a repaired store may miss a child
  const seen = new Map<Digest, Promise<boolean>>();
  const storage: Storage = {
    exists: (d) => store.existsWithGraph(d, seen),
    fetch: (d, io) => store.fetch(d, io),
    push: (d, c, io) => store.push(d, c, io),
  };
  return {
    target: store,
    storage,
    store,
    nameFor,
    async tagImage(img, desc) {
      const name = nameFor(img);
      written.push(name);
      const current = (await store.entries()).find((e) => refNameOf(e) === name);
      if (current?.digest === desc.digest) return false;
      await store.tagExact(desc, name);
      return true;
    },
    commit: () => commit(written),
    close,
  };
}

async function openDestination(loc: Location, opts: CopyImagesOptions, allTags: boolean): Promise<DestEndpoint> {
  switch (loc.kind) {
    case "registry":
      return openRegistryDestination(loc, opts, allTags);
    case "store":
      return localDestination(await LayoutStore.open(opts.storeDir), loc.image, false, allTags, "store:", async () => {}, async () => {});
    case "oci":
      return localDestination(await LayoutStore.open(loc.dir), loc.image, true, allTags, `oci:${loc.dir}`, async () => {}, async () => {});
    case "oci-archive": {
      const dir = await mkdtemp(join(tmpdir(), "gadget-copy-dst-"));
      const cleanup = () => rm(dir, { recursive: true, force: true });
      const store = await LayoutStore.open(dir);
      return localDestination(store, loc.image, false, allTags, `oci-archive:${loc.file}`, async (names) => {
        const { exportImages } = await import("./export.js");
        await exportImages({ storeDir: dir, references: names, file: loc.file });
      }, cleanup);
    }
  }
}

// ---- copy ---------------------------------------------------------------------------------

export async function copyImages(opts: CopyImagesOptions): Promise<CopyImagesResult> {
  const concurrency = parseConcurrency(opts.concurrency) ?? 4;
  if (Number.isNaN(concurrency)) throw usageError(`invalid concurrency ${JSON.stringify(String(opts.concurrency))}: expected a whole number from 1 to 64`);
  const srcLoc = parseLocation(opts.source, "source");
  const dstLoc = parseLocation(opts.destination, "destination");
  const allTags = Boolean(opts.allTags);
  if (srcLoc.kind === "store" && dstLoc.kind === "store") throw usageError("source and destination are both the local store", "use `gadget image tag` to name an image again");

  const src = await openSource(srcLoc, opts);
  let dst: DestEndpoint | undefined;
  try {
    // what to copy first: a bad source or name creates nothing at the destination
    const images = await src.images(allTags);
    dst = await openDestination(dstLoc, opts, allTags);
    const sameRegistry = src.repo && dst.repo && src.repo.registry === dst.repo.registry && src.repo.repository !== dst.repo.repository ? src.repo.repository : undefined;
    const out: CopiedImage[] = [];
    for (const img of images) {
      const r = await copyOne(src, dst, img, {
        concurrency,
        sameRegistry,
        skipSignatures: Boolean(opts.skipSignatures),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onNode ? { onNode: (desc: Descriptor, how: "copied" | "skipped") => opts.onNode!({ image: img.name, desc, how }) } : {}),
      });
      out.push(r);
      opts.onImage?.(r);
    }
    await dst.commit();
    const result: CopyImagesResult = { images: out };
    if (dst.repo) result.destinationStats = { ...dst.repo.stats };
    return result;
  } finally {
    await dst?.close().catch(() => {});
    await src.close().catch(() => {});
  }
}

async function copyOne(
  src: SourceEndpoint,
  dst: DestEndpoint,
  img: SourceImage,
  o: { concurrency: number; sameRegistry: string | undefined; skipSignatures: boolean; signal?: AbortSignal; onNode?: (d: Descriptor, how: "copied" | "skipped") => void },
): Promise<CopiedImage> {
  const destination = dst.nameFor(img);
  const root = await img.resolve();
  const written: Digest[] = [];
  const onWritten = (d: Descriptor) => {
    written.push(d.digest);
    o.onNode?.(d, "copied");
  };
  try {
    const stats = await copyRoot(src.target, dst.storage, root, {
      concurrency: o.concurrency,
      onWritten,
      onSkipped: (d: Descriptor) => o.onNode?.(d, "skipped"),
      // a registry checks the digest of every blob it commits: no second hash pass here
      destinationVerifies: dst.repo !== undefined,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.sameRegistry && dst.repo ? { mountFrom: (d: Descriptor) => dst.repo!.mount(d, o.sameRegistry!) } : {}),
      ...(dst.pushRoot ? { pushRoot: (d: Descriptor, bytes: Uint8Array) => dst.pushRoot!(img, d, bytes) } : {}),
    });
    const tagged = await dst.tagImage(img, root, stats.rootPushed);
    const signatures = o.skipSignatures ? [] : await copyImageSignatures(src.target, dst.target, root, { concurrency: o.concurrency, onWritten });
    return { source: img.name, destination, digest: root.digest, copied: stats.copied, skipped: stats.skipped, mounted: stats.mounted, bytes: stats.bytes, tagged, signatures };
  } catch (e) {
    if (dst.store) await (await import("./pull.js")).removeUnreferenced(dst.store, written);
    throw e;
  }
}
