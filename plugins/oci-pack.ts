/**
 * oci-pack: the §4 artifact. Reads each arch's stripped object ("ebpf@<arch>"), the wasm module
 * ("wasm") and btfgen archives ("btfgen@<arch>"), handles gadget.yaml as `ig image build`
 * does (--update-metadata first, then --validate-metadata against the BTF), packs with
 * core's pack() (ig's exact bytes) and writes every blob into the local store. Nothing is
 * written to the store before validation passed. Output artifact "index" (the index JSON);
 * result { digest, size, mediaType }.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { defineStage, GadgetError, t, type Arch, type Infer } from "../core/types.js";
import { api } from "./api.js";

const options = t.object({
  /** ig's --validate-metadata (default: the gadget's `validateMetadata`, else true; `gadget run --validate-metadata=BOOL` sets it). */
  validateMetadata: t.boolean(),
  /** ig's --update-metadata (default false): writes gadget.yaml in the gadget folder. */
  updateMetadata: t.boolean(),
  /**
   * `io.inspektor-gadget.builder.version` (`gadget image build --builder-version`). Default: env
   * GADGET_BUILDER_VERSION, the gadgetfile's builderVersion, `ig version` of an ig on PATH, ours.
   */
  builderVersion: t.string(),
});
export type OciPackOptions = Infer<typeof options>;

const result = t.object({
  digest: t.required(t.string()),
  size: t.required(t.integer({ min: 0 })),
  mediaType: t.required(t.string()),
  manifests: t.required(t.array(t.object({ arch: t.required(t.enum(["amd64", "arm64"])), digest: t.required(t.string()), size: t.required(t.integer({ min: 0 })) }))),
});

/** gadget.yaml becomes the image config: anything larger (or endless) is refused after this many bytes. */
const MAX_METADATA_BYTES = 4 * 1024 * 1024;

async function readOptional(path: string): Promise<Buffer | undefined> {
  const { readFileCapped } = await api();
  let bytes: Buffer | undefined;
  try {
    bytes = await readFileCapped(path, MAX_METADATA_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new GadgetError({ what: "reading metadata file", which: path, why: (e as Error).message });
  }
  if (!bytes) throw new GadgetError({ what: "reading metadata file", which: path, why: `larger than the ${MAX_METADATA_BYTES}-byte limit for gadget metadata`, code: "BAD_METADATA" });
  return bytes;
}

/** The step's option, else the gadget's setting (gadgetfile defaults/entry), else on — as ig. */
function validates(ctx: { options: OciPackOptions; gadget: { validateMetadata?: boolean } }): boolean {
  return ctx.options.validateMetadata ?? ctx.gadget.validateMetadata ?? true;
}

async function builderVersionFor(ctx: { options: OciPackOptions; gadget: { builderVersion?: string }; env: Readonly<Record<string, string | undefined>> }) {
  const { resolveBuilderVersion } = await api();
  return resolveBuilderVersion({ option: ctx.options.builderVersion, gadgetfile: ctx.gadget.builderVersion, env: ctx.env });
}

function displayPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith("..") ? r : p;
}

export const ociPackStage = defineStage({
  name: "oci-pack",
  version: "3",
  description: "pack the OCI image (ig's exact bytes) and write its blobs into the local store",
  options,
  outputs: ["index"],
  result,
  // Cached like any step: a hit whose index left the store is re-run by the engine, and an
  // unchanged gadget keeps its digest across runs even without SOURCE_DATE_EPOCH.
  async inputs(ctx) {
    const artifacts = [...ctx.artifacts.keys()].filter((k) => /^(ebpf|btfgen)@/.test(k) || k === "wasm");
    // the resolved version is part of the key: a new ig on PATH gives a new annotation
    const builder = (await builderVersionFor(ctx)).version;
    return { files: [ctx.gadget.metadata], artifacts, env: ["SOURCE_DATE_EPOCH", "GADGET_BUILDER_VERSION"], args: { validate: validates(ctx), update: ctx.options.updateMetadata ?? false, archs: ctx.gadget.archs, builder } };
  },
  async run(ctx) {
    const { assertValid, createdTimestamp, EMPTY_DIGEST, EMPTY_JSON, MediaType, pack, parseMetadata, readBpfObject, sha256, unknownMetadataKeys, updateMetadata, validateMetadata } = await api();
    const { gadget } = ctx;
    const which = displayPath(gadget.metadata);
    const ebpfPaths: Partial<Record<Arch, string>> = {};
    for (const arch of gadget.archs) {
      const a = ctx.artifacts.get(`ebpf@${arch}`);
      if (a) ebpfPaths[arch] = a.path;
    }
    // ig reads the metadata from any one architecture's object (the first one here)
    const anyArch = gadget.archs.find((a) => ebpfPaths[a]);
    const anyObject = anyArch ? ebpfPaths[anyArch] : undefined;
    let objectBytes: Buffer | undefined;
    const object = async () => {
      if (!anyObject) return undefined;
      objectBytes ??= await readFile(anyObject);
      return readBpfObject(objectBytes, `${gadget.name}/${anyArch}.bpf.o`);
    };
    const warnKeys = (text: string) => {
      for (const w of unknownMetadataKeys(text)) ctx.logger.warn(`${which}${w.line ? `:${w.line}` : ""}: ${w.message}`);
    };

    let config = await readOptional(gadget.metadata);
    if (ctx.options.updateMetadata) {
      const obj = await object();
      if (!obj) throw new GadgetError({ what: "cannot update metadata", which, why: "the gadget has no eBPF program to read it from" });
      const existing = config?.toString("utf8");
      if (existing !== undefined) {
        // ig: an existing file must be valid before it is extended
        const report = validateMetadata(parseMetadata(existing, which), obj);
        assertValid(report, which);
      }
      const { text } = updateMetadata(existing, obj, which);
      warnKeys(text);
      if (text !== existing) {
        await writeFile(gadget.metadata, text);
        ctx.logger.info(`${existing === undefined ? "created" : "updated"} ${which}`);
      }
      config = Buffer.from(text);
    }
    if (config && validates(ctx)) {
      const text = config.toString("utf8");
      const meta = parseMetadata(text, which);
      if (!ctx.options.updateMetadata) warnKeys(text);
      const obj = await object();
      if (obj) {
        const report = validateMetadata(meta, obj);
        for (const w of report.warnings) ctx.logger.warn(`${which}: ${w.field}: ${w.message}`);
        assertValid(report, which);
      }
    }

    // Every check passed: read layers, pack, then write blobs.
    const blobs: { digest: `${string}:${string}`; size: number; bytes: Uint8Array; mediaType: string }[] = [];
    const addBlob = (bytes: Uint8Array, mediaType: string) => {
      const b = { digest: sha256(bytes), size: bytes.byteLength, bytes, mediaType };
      blobs.push(b);
      return { digest: b.digest, size: b.size };
    };
    const layers: Parameters<typeof pack>[0]["layers"] = {};
    const wasmArt = ctx.artifacts.get("wasm");
    const wasm = wasmArt ? addBlob(await readFile(wasmArt.path), MediaType.WasmProgram) : undefined;
    for (const arch of gadget.archs) {
      const l: NonNullable<(typeof layers)[Arch]> = {};
      const p = ebpfPaths[arch];
      if (p) l.ebpf = addBlob(p === anyObject && objectBytes ? objectBytes : await readFile(p), MediaType.EbpfProgram);
      if (wasm) l.wasm = wasm;
      const b = ctx.artifacts.get(`btfgen@${arch}`);
      if (b) l.btfgen = addBlob(await readFile(b.path), MediaType.Btfgen);
      layers[arch] = l;
    }
    const packed = pack({
      ...(config ? { config, configPath: which } : {}),
      archs: gadget.archs,
      layers,
      created: createdTimestamp(ctx.env.SOURCE_DATE_EPOCH),
      builderVersion: (await builderVersionFor(ctx)).version,
      annotations: { ...ctx.annotations },
    });

    // Children before parents (a reader never finds a manifest whose blobs are missing); blobs of
    // one level are written concurrently. Identical blobs (the shared wasm layer) are written once.
    const store = await ctx.store();
    const leaves = new Map<string, { mediaType: string; digest: `${string}:${string}`; size: number; bytes: Uint8Array }>();
    for (const b of blobs) leaves.set(b.digest, b);
    if (packed.config) leaves.set(packed.config.descriptor.digest, { ...packed.config.descriptor, bytes: packed.config.bytes });
    else leaves.set(EMPTY_DIGEST, { mediaType: MediaType.Empty, digest: EMPTY_DIGEST, size: 2, bytes: EMPTY_JSON });
    await Promise.all([...leaves.values()].map((b) => store.push({ mediaType: b.mediaType, digest: b.digest, size: b.size }, b.bytes)));
    await Promise.all(packed.manifests.map((m) => store.push(m.descriptor, m.bytes)));
    await store.push(packed.index.descriptor, packed.index.bytes);

    const indexPath = join(ctx.outDir, "index.json");
    await writeFile(indexPath, packed.index.bytes);
    const d = packed.index.descriptor;
    return {
      artifacts: { index: indexPath },
      result: { digest: d.digest, size: d.size, mediaType: d.mediaType, manifests: packed.manifests.map((m) => ({ arch: m.arch, digest: m.descriptor.digest, size: m.descriptor.size })) },
    };
  },
});
