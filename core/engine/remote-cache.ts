/**
 * The step cache's registry tier (DESIGN §11, docs/remote-cache.md). Loaded only when a remote
 * cache is configured; it connects on the first local miss (a warm checkout never connects).
 *
 * Lookup (after a local miss): HEAD the key's tag, GET the manifest by digest, check the key it
 * names, with `publicKeys` check the signature, read the config, check the discovered inputs
 * still have the recorded digests, then write the outputs into `outDir` and the blobs the step
 * had written into the local store — everything digest-verified.
 *
 * Save (after a local build): in the background of the run (`finish()` waits for it); blobs the
 * repository has are not uploaded, and a blob shared by two steps goes up once per run.
 *
 * Failures never fail a build: the first registry failure prints one warning, aborts every
 * request in flight, and the rest of the run builds locally. A refused write (no push rights)
 * stops only the writing, with one warning pointing to `--remote-cache-read-only`.
 */
import { createReadStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import type { Readable } from "node:stream";
import { GadgetError } from "../errors.js";
import { Semaphore } from "../limit.js";
import type { Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/model.js";
import type { RemoteRepository } from "../registry/repository.js";
import type { LayoutStore } from "../store/layout-store.js";
import type { Artifact, Logger } from "../types.js";
import type { PublicKey, SigningKey } from "../sign/keys.js";
import type { RemoteCacheSettings } from "./remote-cache-config.js";
import type { Outcome } from "./cache.js";
import {
  checkSignaturePayload,
  decodeConfig,
  decodeManifest,
  embeddedBytes,
  encodeEntry,
  entryTag,
  EntryRejected,
  hasBadEmbedding,
  INLINE_MAX,
  rfc3339,
  signaturePayload,
  type EntryConfig,
  type EntryStoreBlob,
} from "./remote-cache-entry.js";

/**
 * Requests in flight at once (the client's sockets are 4 + 2; more would only queue inside undici,
 * each with an abort listener on the client's signal). Lookups go before uploads.
 */
const IN_FLIGHT = 6;
const LOOKUP = 1;
const UPLOAD = 0;
/** Blobs up to this size are sent from memory (replayable, so retried). */
const BUFFER_MAX = 8 * 1024 * 1024;
const RETRIES = 2;

/** A step's outcome as the local cache holds one; `discovered` as recorded (relative to the project when inside it). */
export interface RemoteHit extends Outcome {
  usedStore: boolean;
}

export interface RemoteLookup {
  key: string;
  /** The current sha256 hex of a recorded discovered input (null when it is gone). */
  currentDigest: (path: string) => Promise<string | null>;
  /** Where to write the outputs (the step's scratch dir). */
  outDir: string;
  openStore: () => Promise<LayoutStore>;
}

/** A hit; or a miss with why (`reason` undefined: the registry has no entry for the key). */
export type RemoteLookupResult = { hit: RemoteHit } | { hit?: undefined; reason?: string };

export interface RemoteSave {
  key: string;
  stage: { name: string; version: string };
  /** Outputs by name (files in the local CAS). */
  artifacts: ReadonlyMap<string, Artifact>;
  annotations: Record<string, string>;
  result?: Record<string, unknown>;
  discovered: Record<string, string>;
  /** Blobs the step wrote into the local store, in order. */
  storeBlobs: EntryStoreBlob[];
  openStore: () => Promise<LayoutStore>;
}

export interface RemoteCacheOptions {
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** The run's signal: an interrupt aborts every request. */
  signal?: AbortSignal;
}

function message(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

function codeOf(e: unknown): string | undefined {
  return e instanceof GadgetError ? e.code : undefined;
}

function isCorruption(e: unknown): boolean {
  const c = codeOf(e);
  return c === "DIGEST_MISMATCH" || c === "SIZE_MISMATCH" || c === "INVALID_CONTENT";
}

function isRefusal(e: unknown): boolean {
  const c = codeOf(e);
  return c === "UNAUTHORIZED" || c === "DENIED";
}

export class RemoteCache {
  readonly settings: RemoteCacheSettings;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private repo: Promise<RemoteRepository> | undefined;
  /** A registry failure happened: no more requests this run. */
  private down = false;
  /** The registry refused a write: reads go on, writes stop. */
  private writesStopped = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly uploads = new Map<string, Promise<void>>();
  private readonly savedKeys = new Set<string>();
  private readonly slots = new Semaphore(IN_FLIGHT);
  private publicKeys: PublicKey[] | undefined;
  private signKey: SigningKey | undefined;
  /** Counters for tests and --json. */
  readonly stats = { lookups: 0, hits: 0, saves: 0, blobsUploaded: 0, blobsSkipped: 0 };

  private constructor(settings: RemoteCacheSettings, o: RemoteCacheOptions) {
    this.settings = settings;
    this.env = o.env;
    this.logger = o.logger;
    const run = o.signal;
    if (run?.aborted) this.abort.abort(run.reason);
    else run?.addEventListener("abort", () => this.abort.abort(run.reason), { once: true });
  }

  /** Load the keys (a bad key is an error now, not a warning later); nothing is contacted yet. */
  static async open(settings: RemoteCacheSettings, o: RemoteCacheOptions): Promise<RemoteCache> {
    const c = new RemoteCache(settings, o);
    if (settings.publicKeys) {
      const { loadPublicKeys } = await import("../sign/key-files.js");
      c.publicKeys = await loadPublicKeys(settings.publicKeys, settings.baseDir);
    }
    if (settings.signKey && !settings.readOnly) {
      const { loadSigningKey, parseKeySource, passwordFrom } = await import("../sign/key-files.js");
      const src = parseKeySource(settings.signKey, settings.baseDir, "cache.signKey");
      c.signKey = await loadSigningKey(src, passwordFrom({ env: o.env as NodeJS.ProcessEnv }), { env: o.env });
    }
    return c;
  }

  get available(): boolean {
    return !this.down && !this.abort.signal.aborted;
  }

  private connect(): Promise<RemoteRepository> {
    this.repo ??= (async () => {
      const [{ openRemoteRepository }, { parseReference }] = await Promise.all([import("../registry/open.js"), import("../oci/reference.js")]);
      const env = this.env;
      const insecureRegistries = (env.GADGET_INSECURE_REGISTRIES ?? "").split(",").filter(Boolean);
      return openRemoteRepository(parseReference(this.settings.reference), {
        ...(env.REGISTRY_AUTH_FILE ? { authfile: env.REGISTRY_AUTH_FILE } : {}),
        ...(env.GADGET_CERT_DIR ? { certDir: env.GADGET_CERT_DIR } : {}),
        ...(insecureRegistries.length > 0 ? { insecureRegistries } : {}),
        env: env as NodeJS.ProcessEnv,
        intent: this.settings.readOnly ? "pull" : "push",
        timeouts: { deadlineMs: 0, idleMs: this.settings.idleMs },
        retry: { retries: RETRIES },
        signal: this.abort.signal,
        onDebug: (line) => this.logger.debug(`remote cache: ${line}`),
      });
    })();
    return this.repo;
  }

  /** One request (its answer fully read inside `f`) in a slot. */
  private req<T>(f: () => Promise<T>, priority = LOOKUP): Promise<T> {
    return this.slots.run(f, priority);
  }

  /** A download stream holding its slot until the stream ends (read, failed or destroyed). */
  private async download$(repo: RemoteRepository, d: Descriptor, priority = LOOKUP): Promise<Readable> {
    const release = await this.slots.acquire(priority);
    try {
      const s = await repo.fetch(d);
      s.once("close", release);
      s.once("end", release);
      s.once("error", release);
      return s;
    } catch (e) {
      release();
      throw e;
    }
  }

  /** The first registry failure: one warning, every request in flight aborted, local builds from now on. */
  private fail(e: unknown): void {
    if (this.down || this.abort.signal.aborted) return;
    this.down = true;
    this.logger.warn(`remote cache ${this.settings.reference}: ${message(e)}; building locally`);
    this.abort.abort(new GadgetError({ what: "remote cache", which: this.settings.reference, why: "disabled for this run after a failure", code: "ABORTED" }));
  }

  async lookup(req: RemoteLookup): Promise<RemoteLookupResult> {
    if (!this.available) return { reason: "remote: unavailable" };
    this.stats.lookups++;
    let stage = "resolve";
    try {
      const repo = await this.connect();
      const tag = entryTag(req.key);
      let desc: Descriptor;
      try {
        desc = await this.req(() => repo.resolve(tag));
      } catch (e) {
        if (codeOf(e) === "NOT_FOUND") return {};
        throw e;
      }
      stage = "entry";
      const { bytes } = await this.req(() => repo.fetchManifest(desc.digest));
      const m = decodeManifest(bytes, req.key);
      if (this.publicKeys) {
        const why = await this.checkSignature(repo, desc.digest as Digest, req.key);
        if (why) return { reason: why };
      }
      const cfg = decodeConfig(await this.readBlob(repo, m.config), req.key, m.layers);
      for (const [p, dg] of Object.entries(cfg.discovered)) {
        const now = await req.currentDigest(p);
        if (now !== dg) return { reason: `remote: built with another ${p}` };
      }
      const hit = await this.download(repo, m.layers, cfg, req);
      this.stats.hits++;
      return { hit };
    } catch (e) {
      if (e instanceof EntryRejected) return { reason: e.kind === "another-key" ? "remote: entry for another key" : "remote: corrupt entry" };
      if (isCorruption(e) || (stage === "entry" && codeOf(e) === "NOT_FOUND")) return { reason: "remote: corrupt entry" };
      if (!this.available) return { reason: "remote: unavailable" };
      this.fail(e);
      return { reason: "remote: unavailable" };
    }
  }

  /** A cosign legacy signature (`sha256-<hex>.sig`) by one of the public keys, binding the digest to the key. */
  private async checkSignature(repo: RemoteRepository, digest: Digest, key: string): Promise<string | undefined> {
    const [{ cosignSignatureTag, SIGNATURE_ANNOTATION, SignMediaType }, { verifyData }, { parseManifest }] = await Promise.all([import("../sign/constants.js"), import("../sign/keys.js"), import("../oci/model.js")]);
    let bytes: Buffer;
    try {
      bytes = (await this.req(() => repo.fetchManifest(cosignSignatureTag(digest)))).bytes;
    } catch (e) {
      if (codeOf(e) === "NOT_FOUND") return "remote: unsigned";
      throw e;
    }
    let sigManifest;
    try {
      sigManifest = parseManifest(bytes, "signature");
    } catch {
      return "remote: bad signature";
    }
    for (const layer of sigManifest.layers) {
      if (layer.mediaType !== SignMediaType.SimpleSigning) continue;
      const sig = layer.annotations?.[SIGNATURE_ANNOTATION];
      if (!sig || layer.size > 64 * 1024) continue;
      const payload = await this.readBlob(repo, layer);
      const signature = Buffer.from(sig, "base64");
      if (this.publicKeys!.some((k) => verifyData(k, payload, signature)) && checkSignaturePayload(payload, digest, key)) return undefined;
    }
    return "remote: bad signature";
  }

  /** A (small) blob: its embedded bytes when they match, else downloaded (verified). */
  private async readBlob(repo: RemoteRepository, d: Descriptor): Promise<Buffer> {
    if (hasBadEmbedding(d)) throw new EntryRejected("corrupt", `embedded ${d.digest} does not match`);
    const b = embeddedBytes(d);
    if (b) return b;
    const { readAll } = await import("../oci/content.js");
    const s = await this.download$(repo, d);
    try {
      return await readAll(s, Math.max(d.size, 1));
    } finally {
      s.destroy();
    }
  }

  /** A blob as content to write somewhere: embedded bytes, or a verified download stream. */
  private async content(repo: RemoteRepository, d: Descriptor): Promise<Buffer | Readable> {
    if (hasBadEmbedding(d)) throw new EntryRejected("corrupt", `embedded ${d.digest} does not match`);
    return embeddedBytes(d) ?? (await this.download$(repo, d));
  }

  private async download(repo: RemoteRepository, layers: Descriptor[], cfg: EntryConfig, req: RemoteLookup): Promise<RemoteHit> {
    // a tampered embedded blob is found before anything is written
    if (layers.some(hasBadEmbedding)) throw new EntryRejected("corrupt", "an embedded blob does not match its digest");
    const byDigest = new Map(layers.map((l) => [l.digest, l]));
    await mkdir(req.outDir, { recursive: true });
    const artifacts = new Map<string, Artifact>();
    const files = new Map<string, string>();
    let n = 0;
    for (const o of cfg.outputs) {
      const path = join(req.outDir, `remote-${n++}`);
      const c = await this.content(repo, byDigest.get(o.digest)!);
      if (Buffer.isBuffer(c)) await writeFile(path, c);
      else {
        const { VerifyingStream } = await import("../oci/digest.js");
        // fetch() verifies while it streams; verify again so a short stream cannot pass
        await pipeline(c, new VerifyingStream(o.digest, o.size, o.digest), createWriteStream(path));
      }
      artifacts.set(o.name, { path, digest: o.digest, size: o.size });
      files.set(o.digest, path);
    }
    if (cfg.storeBlobs.length > 0) {
      const store = await req.openStore();
      for (const b of cfg.storeBlobs) {
        const desc: Descriptor = { mediaType: b.mediaType, digest: b.digest, size: b.size };
        if (await store.exists(desc)) continue;
        const file = files.get(b.digest);
        await store.push(desc, file ? createReadStream(file) : await this.content(repo, byDigest.get(b.digest)!));
      }
    }
    return { artifacts, annotations: cfg.annotations, ...(cfg.result ? { result: cfg.result } : {}), discovered: Object.keys(cfg.discovered), usedStore: cfg.storeBlobs.length > 0 };
  }

  /** Push a step's entry in the background (nothing when read-only or after a failure). */
  save(s: RemoteSave): void {
    if (this.settings.readOnly || this.writesStopped || !this.available || this.savedKeys.has(s.key)) return;
    this.savedKeys.add(s.key);
    const p = this.push(s).catch((e: unknown) => this.writeFailed(e));
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private writeFailed(e: unknown): void {
    if (!this.available || this.writesStopped) return;
    if (isRefusal(e)) {
      this.writesStopped = true;
      this.logger.warn(
        `remote cache ${this.settings.reference}: cannot write (${message(e)}); reading it goes on, writing stops — for builds that should only read, pass --remote-cache-read-only (or set cache.readOnly)`,
      );
      return;
    }
    this.fail(e);
  }

  private async push(s: RemoteSave): Promise<void> {
    const repo = await this.connect();
    // bytes of small blobs (embedded in the manifest) and where every blob's content comes from
    const small = new Map<string, Uint8Array>();
    const source = new Map<string, () => Promise<Buffer | Readable>>();
    for (const a of s.artifacts.values()) {
      if (a.size <= INLINE_MAX) small.set(a.digest, await readFile(a.path));
      source.set(a.digest, async () => (small.get(a.digest) as Buffer | undefined) ?? (a.size <= BUFFER_MAX ? readFile(a.path) : createReadStream(a.path)));
    }
    const store = s.storeBlobs.length > 0 ? await s.openStore() : undefined;
    for (const b of s.storeBlobs) {
      if (source.has(b.digest)) continue;
      const desc: Descriptor = { mediaType: b.mediaType, digest: b.digest, size: b.size };
      if (b.size <= INLINE_MAX) small.set(b.digest, await store!.fetchBytes(desc));
      source.set(b.digest, async () => (small.get(b.digest) as Buffer | undefined) ?? (b.size <= BUFFER_MAX ? store!.fetchBytes(desc, BUFFER_MAX) : store!.fetch(desc)));
    }
    const cfg: EntryConfig = {
      v: 1,
      key: s.key,
      stage: s.stage,
      outputs: [...s.artifacts].map(([name, a]) => ({ name, digest: a.digest, size: a.size })),
      annotations: s.annotations,
      ...(s.result ? { result: s.result } : {}),
      discovered: s.discovered,
      storeBlobs: s.storeBlobs,
    };
    const entry = encodeEntry(cfg, { created: rfc3339(), content: small, inline: this.settings.inline });
    await Promise.all(entry.layers.map((l) => this.uploadOnce(repo, l, source.get(l.digest)!)));
    await this.uploadOnce(repo, entry.config.descriptor, async () => entry.config.bytes);
    await this.req(() => repo.push(entry.manifest.descriptor, entry.manifest.bytes), UPLOAD);
    // signed before it is tagged: a reader that finds the tag finds the signature
    if (this.signKey) await this.sign(repo, entry.manifest.descriptor.digest as Digest, s.key);
    await this.req(() => repo.tag(entry.manifest.descriptor, entry.tag), UPLOAD);
    this.stats.saves++;
  }

  private async sign(repo: RemoteRepository, digest: Digest, key: string): Promise<void> {
    const [{ signData }, { simpleSigningImage }, { cosignSignatureTag }] = await Promise.all([import("../sign/keys.js"), import("../sign/manifests.js"), import("../sign/constants.js")]);
    const payload = signaturePayload(this.settings.reference, digest, key);
    const img = simpleSigningImage(payload, signData(this.signKey!, payload));
    for (const b of img.blobs) await this.uploadOnce(repo, b.descriptor, async () => b.bytes);
    await this.req(() => repo.pushManifest(img.manifest.bytes, img.manifest.descriptor.mediaType, cosignSignatureTag(digest)), UPLOAD);
  }

  /** Upload a blob unless the repository has it; once per run whatever the number of steps sharing it. */
  private uploadOnce(repo: RemoteRepository, desc: Descriptor, content: () => Promise<Buffer | Readable>): Promise<void> {
    let p = this.uploads.get(desc.digest);
    if (!p) {
      p = (async () => {
        const d: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
        if (await this.req(() => repo.exists(d), UPLOAD)) {
          this.stats.blobsSkipped++;
          return;
        }
        const c = await content();
        await this.req(() => repo.push(d, c), UPLOAD);
        this.stats.blobsUploaded++;
      })();
      this.uploads.set(desc.digest, p);
      // a failed upload may be tried again by a later step
      p.catch(() => this.uploads.delete(desc.digest));
    }
    return p;
  }

  /** Wait for the background pushes, then close the connection. */
  async finish(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (this.repo) {
      const repo = await this.repo.catch(() => undefined);
      await repo?.client.close();
    }
  }
}

export function openRemoteCache(settings: RemoteCacheSettings, o: RemoteCacheOptions): Promise<RemoteCache> {
  return RemoteCache.open(settings, o);
}
