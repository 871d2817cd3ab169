/**
 * tar-export (publish target `{ type: "tar-export", file }`): writes the gadgets' images into an
 * OCI-layout tar with the library's exportImages (the same code as `gadget image export`).
 * `{name}` in the file gives one tar per gadget; otherwise every gadget of the run goes into the
 * one file (each gadget's step re-writes it with all images exported to it so far in this run,
 * one at a time, so the last write holds them all).
 */
import { mkdir } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { defineStage } from "../core/types.js";

/** The library, loaded when the stage runs. */
import { library } from "./api.js";

export interface TarExportOptions {
  /** Destination tar (relative paths: to the gadgetfile's folder). */
  file: string;
}

const perFile = new Map<string, { refs: Set<string>; chain: Promise<unknown> }>();

export const tarExportStage = defineStage<TarExportOptions>({
  name: "tar-export",
  version: "1",
  cacheable: false,
  async run(ctx) {
    const { exportImages, GadgetError } = await library();
    const file = ctx.options.file;
    if (typeof file !== "string" || file === "") throw new GadgetError({ what: "tar-export", which: ctx.gadget.name, why: 'the target needs a "file"' });
    const reference = ctx.gadget.tag;
    if (!reference) throw new GadgetError({ what: "nothing to export", which: ctx.gadget.name, why: "the gadget has no tag", hint: 'give the gadget a tag (defaults.tag: "{name}:v1")' });
    const abs = isAbsolute(file) ? file : resolve(ctx.cwd, file);
    const store = await ctx.store();
    await mkdir(dirname(abs), { recursive: true });
    let entry = perFile.get(abs);
    if (!entry) {
      entry = { refs: new Set(), chain: Promise.resolve() };
      perFile.set(abs, entry);
    }
    entry.refs.add(reference);
    const refs = [...entry.refs];
    const next = entry.chain.then(() => exportImages({ storeDir: store.root, references: refs, file: abs }));
    entry.chain = next.catch(() => {});
    const r = await next;
    return { result: { file: r.file, images: r.images.map((i) => ({ reference: i.reference, digest: i.digest })) } };
  },
});

export default tarExportStage;
