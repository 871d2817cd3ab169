/**
 * One repository on a registry as a copy-graph Target (oras-go's remote.Repository):
 * resolve/fetch/exists/push by descriptor, tag, and the extras signing needs (pushManifest,
 * fetchManifest, tags, mount). Every download is size- and digest-verified while it streams;
 * uploads are streamed (POST + PUT for small blobs, POST + streamed PATCH + PUT for large).
 */
import { Readable, Transform } from "node:stream";
import { GadgetError } from "../errors.js";
import { VerifyingStream, digestOf, isDigest, type Digest } from "../oci/digest.js";
import { markVerified, readAll, type Content, type Target, type TransferIo } from "../oci/content.js";
import { MediaType, isIndexType, isManifestType } from "../oci/media-types.js";
import { MAX_MANIFEST_BYTES, parseIndex, sniffKind, type Descriptor } from "../oci/model.js";
import { parseReference } from "../oci/reference.js";
import { bodyText, drain, readBodyCapped } from "./body.js";
import { header, type RegistryClient, type RegistryResponse } from "./client.js";
import { httpError } from "./errors.js";
import { repositoryScope } from "./scope.js";

/** Everything a manifest GET/HEAD accepts (distribution answers 404 for OCI types otherwise). */
export const MANIFEST_ACCEPT = [
  MediaType.ImageIndex,
  MediaType.ImageManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
  "application/vnd.oci.artifact.manifest.v1+json",
].join(", ");


/** One page of a tag list (`/tags/list?n=1000`) is far smaller than this. */
const MAX_TAGS_PAGE = 4 * 1024 * 1024;

/** Pages of a tag list followed at most (a registry that never stops is an error, not a hang). */
const MAX_TAG_PAGES = 10_000;

/** Blobs up to this size go up in one PUT; larger ones as a streamed PATCH. */
export const MONOLITHIC_MAX = 8 * 1024 * 1024;

function isManifestDesc(desc: Descriptor): boolean {
  return isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
}

function toReadable(content: Content): Readable {
  if (content instanceof Readable) return content;
  if (content instanceof Uint8Array) return Readable.from([Buffer.from(content.buffer, content.byteOffset, content.byteLength)]);
  return Readable.from(content as AsyncIterable<Uint8Array>);
}

/** Guess a manifest's media type from its JSON when the descriptor has none. */
export function manifestMediaType(bytes: Uint8Array, fallback?: string): string {
  if (fallback) return fallback;
  try {
    const o = JSON.parse(Buffer.from(bytes).toString("utf8")) as { mediaType?: unknown };
    if (typeof o.mediaType === "string" && o.mediaType) return o.mediaType;
  } catch {
    /* handled below */
  }
  const k = sniffKind(bytes);
  return k === "index" ? MediaType.ImageIndex : MediaType.ImageManifest;
}

export class RemoteRepository implements Target {
  readonly client: RegistryClient;
  /** e.g. myorg/gadget/trace_open */
  readonly repository: string;
  /** Manifests pushed or fetched in this session, for tag() without a round trip. */
  private readonly manifestCache = new Map<Digest, { bytes: Buffer; mediaType: string }>();
  /** Counters for tests and benchmarks. */
  readonly stats = { blobUploads: 0, blobMounts: 0, manifestPuts: 0, bytesUploaded: 0, bytesDownloaded: 0 };

  /**
   * What this session will do to the repository, fixed when it is opened: a session that pushes
   * asks for pull+push tokens even for its reads, so one token covers the whole push instead of
   * one for the HEADs and another for the uploads.
   */
  readonly intent: "pull" | "push";

  constructor(client: RegistryClient, repository: string, opts: { intent?: "pull" | "push" } = {}) {
    this.client = client;
    this.repository = repository;
    this.intent = opts.intent ?? "pull";
  }

  get registry(): string {
    return this.client.registry;
  }

  private get name(): string {
    return `${this.client.registry}/${this.repository}`;
  }

  private pullScope(): string[] {
    return [repositoryScope(this.repository, this.intent === "push" ? ["pull", "push"] : ["pull"])];
  }

  private pushScope(): string[] {
    return [repositoryScope(this.repository, ["pull", "push"])];
  }

  private path(kind: "manifests" | "blobs" | "tags", ref = ""): string {
    return `/v2/${this.repository}/${kind}/${ref}`;
  }

  private async fail(what: string, which: string, res: RegistryResponse): Promise<never> {
    const text = await bodyText(res);
    throw httpError(what, which, res.status, text, this.client.registry);
  }

  /** A tag, a digest, or a full reference (`host/repo:tag`, `host/repo@sha256:…`) → the tag/digest part. */
  private refPart(reference: string): string {
    if (isDigest(reference)) return reference;
    if (reference.includes("/")) {
      const r = parseReference(reference);
      return r.digest ?? r.tag ?? "latest";
    }
    const at = reference.indexOf("@");
    if (at >= 0) return reference.slice(at + 1);
    return reference;
  }

  // ---- Target -------------------------------------------------------------------------------

  /** Tag or digest → the root's descriptor (HEAD with every manifest type accepted). */
  async resolve(reference: string): Promise<Descriptor> {
    const ref = this.refPart(reference);
    const which = ref.includes(":") ? `${this.name}@${ref}` : `${this.name}:${ref}`;
    const res = await this.client.request({ method: "HEAD", path: this.path("manifests", ref), scopes: this.pullScope(), headers: { accept: MANIFEST_ACCEPT } });
    await drain(res);
    if (res.status === 404) {
      throw new GadgetError({ what: "resolving image", which, why: "not found: no such tag or digest in the registry", hint: "check the name and tag", code: "NOT_FOUND" });
    }
    if (res.status !== 200) {
      const get = await this.client.request({ method: "GET", path: this.path("manifests", ref), scopes: this.pullScope(), headers: { accept: MANIFEST_ACCEPT } });
      if (get.status !== 200) return this.fail("resolving image", which, get);
      const bytes = await readAll(get.body, MAX_MANIFEST_BYTES).catch((e) => {
        throw this.client.networkFailure(e);
      });
      return this.describeManifest(bytes, header(get, "content-type"), ref);
    }
    const digest = header(res, "docker-content-digest");
    const length = Number(header(res, "content-length"));
    const ctype = header(res, "content-type");
    if (digest && isDigest(digest) && Number.isSafeInteger(length) && length > 0 && ctype) {
      if (isDigest(ref) && ref !== digest) {
        throw new GadgetError({ what: "resolving image", which, why: `the registry answered digest ${digest}`, code: "DIGEST_MISMATCH" });
      }
      return { mediaType: ctype.split(";")[0]!.trim(), digest, size: length };
    }
    const { bytes, mediaType } = await this.fetchManifest(ref);
    return this.describeManifest(bytes, mediaType, ref);
  }

  private describeManifest(bytes: Buffer, contentType: string | undefined, ref: string): Descriptor {
    const digest = digestOf(bytes);
    if (isDigest(ref) && ref !== digest) {
      throw new GadgetError({ what: "resolving image", which: `${this.name}@${ref}`, why: `the registry sent content with digest ${digest}`, code: "DIGEST_MISMATCH" });
    }
    const mediaType = manifestMediaType(bytes, contentType?.split(";")[0]?.trim() || undefined);
    this.manifestCache.set(digest, { bytes, mediaType });
    return { mediaType, digest, size: bytes.byteLength };
  }

  /** GET a manifest by tag or digest (bytes verified when by digest). */
  async fetchManifest(reference: string): Promise<{ descriptor: Descriptor; bytes: Buffer; mediaType: string }> {
    const ref = this.refPart(reference);
    const which = ref.includes(":") ? `${this.name}@${ref}` : `${this.name}:${ref}`;
    const res = await this.client.request({ method: "GET", path: this.path("manifests", ref), scopes: this.pullScope(), headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      await drain(res);
      throw new GadgetError({ what: "fetching manifest", which, why: "not found", code: "NOT_FOUND" });
    }
    if (res.status !== 200) return this.fail("fetching manifest", which, res);
    const bytes = await readAll(res.body, MAX_MANIFEST_BYTES).catch((e) => {
      throw this.client.networkFailure(e);
    });
    const descriptor = this.describeManifest(bytes, header(res, "content-type"), ref);
    return { descriptor, bytes, mediaType: descriptor.mediaType };
  }

  async exists(desc: Descriptor, io: TransferIo = {}): Promise<boolean> {
    const kind = isManifestDesc(desc) ? "manifests" : "blobs";
    const res = await this.client.request({
      ...io,
      method: "HEAD",
      path: this.path(kind, desc.digest),
      scopes: this.pullScope(),
      headers: { accept: kind === "manifests" ? MANIFEST_ACCEPT : "*/*" },
    });
    if (res.status === 200 || res.status === 404) {
      await drain(res);
      return res.status === 200;
    }
    return this.fail("checking content", `${this.name}@${desc.digest}`, res);
  }

  /** A verified stream of the content (manifests from /manifests, everything else from /blobs). */
  async fetch(desc: Descriptor, io: TransferIo = {}): Promise<Readable> {
    const which = `${this.name}@${desc.digest}`;
    const cached = this.manifestCache.get(desc.digest);
    if (cached && cached.bytes.byteLength === desc.size) return Readable.from([cached.bytes]);
    const kind = isManifestDesc(desc) ? "manifests" : "blobs";
    const res = await this.client.request({
      ...io,
      method: "GET",
      path: this.path(kind, desc.digest),
      scopes: this.pullScope(),
      headers: kind === "manifests" ? { accept: MANIFEST_ACCEPT } : { accept: "*/*" },
    });
    if (res.status === 404) {
      await drain(res);
      throw new GadgetError({ what: "fetching content", which, why: "not found in the registry", code: "NOT_FOUND" });
    }
    if (res.status !== 200) return this.fail("fetching content", which, res);
    const declared = Number(header(res, "content-length"));
    if (Number.isSafeInteger(declared) && declared !== desc.size && header(res, "content-encoding") === undefined) {
      await drain(res);
      throw new GadgetError({ what: "content verification failed", which, why: `size mismatch: expected ${desc.size} bytes, the registry announced ${declared}`, code: "SIZE_MISMATCH" });
    }
    const body = res.body;
    if (io.unverified) {
      // the destination verifies (registry → registry copies): pass the bytes through, counted
      const out = this.counter((n) => (this.stats.bytesDownloaded += n));
      body.on("error", (e) => out.destroy(this.client.networkFailure(e)));
      out.on("error", () => {});
      return body.pipe(out);
    }
    const verify = new VerifyingStream(desc.digest, desc.size, which as Digest);
    body.on("error", (e) => verify.destroy(this.client.networkFailure(e)));
    // chunks go on as they arrive: the store's write stream writes what piles up during a write
    // with one writev (no copying into bigger buffers)
    const out = this.counter((n) => (this.stats.bytesDownloaded += n), 4 * 1024 * 1024);
    verify.on("error", (e) => out.destroy(e));
    // the consumer may attach later (e.g. after taking a lock): it still sees the error then,
    // but an early failure must not be an unhandled 'error' event
    out.on("error", () => {});
    abortWithConsumer(out, body);
    return markVerified(body.pipe(verify).pipe(out));
  }

  async push(desc: Descriptor, content: Content, io: TransferIo = {}): Promise<void> {
    if (isManifestDesc(desc) || (desc.size <= MAX_MANIFEST_BYTES && content instanceof Uint8Array && !desc.mediaType && sniffKind(content) !== "blob")) {
      const bytes = content instanceof Uint8Array ? Buffer.from(content.buffer, content.byteOffset, content.byteLength) : await readAll(toReadable(content), MAX_MANIFEST_BYTES);
      await this.putManifest(desc, bytes, desc.digest, io);
      return;
    }
    await this.uploadBlob(desc, content, io);
  }

  /** Tag a manifest already in the repository (PUT its bytes under the tag). */
  async tag(desc: Descriptor, reference: string): Promise<void> {
    const tag = this.refPart(reference);
    if (isDigest(tag)) throw new GadgetError({ what: "tagging image", which: `${this.name}@${tag}`, why: "a tag is needed, not a digest", code: "USAGE" });
    let cached = this.manifestCache.get(desc.digest);
    if (!cached) {
      const m = await this.fetchManifest(desc.digest);
      cached = { bytes: m.bytes, mediaType: m.mediaType };
    }
    await this.putManifest({ ...desc, mediaType: desc.mediaType || cached.mediaType }, cached.bytes, tag);
  }

  // ---- extras -------------------------------------------------------------------------------

  /**
   * Push manifest bytes (e.g. a cosign `sha256-<hex>.sig` manifest or an OCI referrer) by
   * digest, or under `tag` when given. Returns its descriptor.
   */
  async pushManifest(bytes: Uint8Array, mediaType: string, tag?: string): Promise<Descriptor> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const desc: Descriptor = { mediaType, digest: digestOf(buf), size: buf.byteLength };
    await this.putManifest(desc, buf, tag ?? desc.digest);
    return desc;
  }

  /**
   * OCI 1.1 referrers API: the manifests whose `subject` is `subject`, or undefined when the
   * registry has no such API (404/400/405; distribution 2.8) — callers then use the referrers
   * tag schema (`sha256-<hex>`).
   */
  async referrers(subject: Descriptor): Promise<Descriptor[] | undefined> {
    const res = await this.client.request({ method: "GET", path: `/v2/${this.repository}/referrers/${subject.digest}`, scopes: this.pullScope(), headers: { accept: MediaType.ImageIndex } });
    if (res.status === 404 || res.status === 400 || res.status === 405) {
      await drain(res);
      return undefined;
    }
    if (res.status !== 200) return this.fail("listing referrers", `${this.name}@${subject.digest}`, res);
    const type = header(res, "content-type") ?? "";
    if (!isIndexType(type.split(";")[0]!.trim())) {
      await drain(res);
      return undefined; // not the referrers API (e.g. a registry answering some other page)
    }
    const bytes = await readAll(res.body, MAX_MANIFEST_BYTES).catch((e) => {
      throw this.client.networkFailure(e);
    });
    return parseIndex(bytes, `referrers of ${subject.digest}`).manifests;
  }

  /**
   * Tags in the repository (follows `Link` pagination). A registry whose `Link` points back at a
   * page already read, or that never stops, is an error rather than an endless loop.
   */
  async tags(): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = `${this.path("tags", "list")}?n=1000`;
    const visited = new Set<string>();
    while (path) {
      if (visited.has(path) || visited.size >= MAX_TAG_PAGES) {
        throw new GadgetError({ what: "listing tags", which: this.name, why: visited.has(path) ? `the registry's next-page link points back at a page already read (${path})` : `more than ${MAX_TAG_PAGES} pages`, code: "PROTOCOL" });
      }
      visited.add(path);
      const res = await this.client.request({ method: "GET", path, scopes: this.pullScope(), headers: { accept: "application/json" } });
      if (res.status === 404) {
        await drain(res);
        return out;
      }
      if (res.status !== 200) return this.fail("listing tags", this.name, res);
      const page = await readBodyCapped(res.body, MAX_TAGS_PAGE);
      if (page.truncated) throw new GadgetError({ what: "listing tags", which: this.name, why: `a page of the tag list is larger than ${MAX_TAGS_PAGE / 1024 / 1024} MiB`, code: "TOO_LARGE" });
      let doc: { tags?: string[] | null };
      try {
        doc = JSON.parse(page.bytes.toString("utf8")) as typeof doc;
      } catch {
        throw new GadgetError({ what: "listing tags", which: this.name, why: "the registry did not answer JSON", code: "PROTOCOL" });
      }
      out.push(...(doc.tags ?? []));
      const link = header(res, "link");
      const m = link ? /<([^>]+)>/.exec(link) : null;
      path = m ? m[1] : undefined;
    }
    return out;
  }

  /** Delete a manifest by digest (distribution refuses deleting by tag). */
  async deleteManifest(digest: Digest): Promise<void> {
    const res = await this.client.request({ method: "DELETE", path: this.path("manifests", digest), scopes: [repositoryScope(this.repository, ["delete"])] });
    if (res.status !== 202 && res.status !== 200) return this.fail("deleting manifest", `${this.name}@${digest}`, res);
    await drain(res);
    this.manifestCache.delete(digest);
  }

  /**
   * Cross-repository mount: ask the registry to link a blob another repository (on the same
   * registry) already has. True when mounted; false when the registry wants an upload instead.
   */
  async mount(desc: Descriptor, fromRepository: string): Promise<boolean> {
    if (fromRepository === this.repository) return false;
    const q = new URLSearchParams({ mount: desc.digest, from: fromRepository });
    const res = await this.client.request({
      method: "POST",
      path: `${this.path("blobs", "uploads/")}?${q.toString()}`,
      scopes: [...this.pushScope(), repositoryScope(fromRepository, ["pull"])],
      headers: { "content-length": "0" },
    });
    await drain(res);
    if (res.status === 201) {
      this.stats.blobMounts++;
      return true;
    }
    if (res.status === 202) {
      // the registry opened an upload session instead: cancel it
      const loc = header(res, "location");
      if (loc) {
        const del = await this.client.request({ method: "DELETE", path: this.uploadUrl(loc).toString(), scopes: this.pushScope() }).catch(() => undefined);
        if (del) await drain(del);
      }
      return false;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) return false;
    return this.fail("mounting blob", `${this.name}@${desc.digest} from ${fromRepository}`, res);
  }

  // ---- internals ----------------------------------------------------------------------------

  private async putManifest(desc: Descriptor, bytes: Buffer, ref: string, io: TransferIo = {}): Promise<void> {
    const actual = digestOf(bytes);
    if (actual !== desc.digest || bytes.byteLength !== desc.size) {
      throw new GadgetError({ what: "pushing manifest", which: `${this.name}@${desc.digest}`, why: `the bytes have digest ${actual} (${bytes.byteLength} bytes)`, code: "DIGEST_MISMATCH" });
    }
    const mediaType = manifestMediaType(bytes, desc.mediaType || undefined);
    const res = await this.client.request({
      ...io,
      method: "PUT",
      path: this.path("manifests", ref),
      scopes: this.pushScope(),
      headers: { "content-type": mediaType },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200) return this.fail("pushing manifest", ref.includes(":") ? `${this.name}@${ref}` : `${this.name}:${ref}`, res);
    await drain(res);
    const got = header(res, "docker-content-digest");
    if (got && isDigest(got) && got !== desc.digest) {
      throw new GadgetError({ what: "pushing manifest", which: `${this.name}:${ref}`, why: `the registry stored it as ${got}, expected ${desc.digest}`, code: "DIGEST_MISMATCH" });
    }
    this.stats.manifestPuts++;
    this.manifestCache.set(desc.digest, { bytes, mediaType });
  }

  /** A pass-through that reports chunk sizes (a 'data' listener would start the flow too early). */
  private counter(onBytes: (n: number) => void, readableHighWaterMark?: number): Transform {
    return new Transform({
      // (a download: let the socket keep flowing while the consumer writes earlier chunks to disk)
      ...(readableHighWaterMark ? { readableHighWaterMark } : {}),
      transform(chunk: Buffer, _enc, cb) {
        onBytes(chunk.length);
        cb(null, chunk);
      },
    });
  }

  private uploadUrl(location: string): URL {
    return new URL(location, this.client.origin);
  }

  private withDigest(location: string, digest: Digest): string {
    const u = this.uploadUrl(location);
    u.searchParams.set("digest", digest);
    return u.toString();
  }

  private async uploadBlob(desc: Descriptor, content: Content, io: TransferIo = {}): Promise<void> {
    const which = `${this.name}@${desc.digest}`;
    const start = await this.client.request({
      ...io,
      method: "POST",
      path: this.path("blobs", "uploads/"),
      scopes: this.pushScope(),
      headers: { "content-length": "0" },
    });
    if (start.status === 201) {
      // some registries complete a POST for known content
      await drain(start);
      if (content instanceof Readable) content.destroy();
      return;
    }
    if (start.status !== 202) {
      if (content instanceof Readable) content.destroy();
      return this.fail("starting blob upload", which, start);
    }
    await drain(start);
    let location = header(start, "location");
    if (!location) throw new GadgetError({ what: "starting blob upload", which, why: "the registry sent no upload location", code: "PROTOCOL" });

    // count uploaded bytes as they go (and catch a source that lies about its size)
    let sent = 0;
    const counted = (src: Readable): Readable => {
      const t = this.counter((n) => {
        sent += n;
        this.stats.bytesUploaded += n;
      });
      src.on("error", (e) => t.destroy(e));
      return src.pipe(t);
    };

    if (desc.size <= MONOLITHIC_MAX || content instanceof Uint8Array) {
      const body = content instanceof Uint8Array ? Buffer.from(content.buffer, content.byteOffset, content.byteLength) : counted(toReadable(content));
      if (body instanceof Buffer) this.stats.bytesUploaded += body.byteLength;
      const res = await this.client.request({
      ...io,
        method: "PUT",
        path: this.withDigest(location, desc.digest),
        scopes: this.pushScope(),
        headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
        body,
      });
      if (res.status !== 201) return this.fail("uploading blob", which, res);
      await drain(res);
    } else {
      const res = await this.client.request({
      ...io,
        method: "PATCH",
        path: this.uploadUrl(location).toString(),
        scopes: this.pushScope(),
        headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
        body: counted(toReadable(content)),
      });
      if (res.status !== 202) return this.fail("uploading blob", which, res);
      await drain(res);
      if (sent !== desc.size) {
        throw new GadgetError({ what: "uploading blob", which, why: `sent ${sent} bytes, expected ${desc.size}`, code: "SIZE_MISMATCH" });
      }
      location = header(res, "location") ?? location;
      const fin = await this.client.request({
      ...io,
        method: "PUT",
        path: this.withDigest(location, desc.digest),
        scopes: this.pushScope(),
        headers: { "content-type": "application/octet-stream", "content-length": "0" },
        body: Buffer.alloc(0),
      });
      if (fin.status !== 201) return this.fail("finishing blob upload", which, fin);
      await drain(fin);
    }
    this.stats.blobUploads++;
  }
}

/**
 * A consumer that stops reading early (its write failed: a full disk) destroys the stream it was
 * given; the response body behind it must go too, or the request never ends and closing the
 * client waits for it forever.
 */
function abortWithConsumer(out: Readable, body: Readable): void {
  out.once("close", () => {
    if (!out.readableEnded && !body.destroyed) body.destroy();
  });
}
