/**
 * tar-export (publish target `{ type: "tar-export", file }`): writes the gadgets' images into an
 * OCI-layout tar with the library's exportImages (the same code as `gadget image export`).
 * `{name}` in the file gives one tar per gadget; otherwise every gadget of the run goes into the
 * one file: each gadget's step re-writes it with every image exported to it so far in this run,
 * one write at a time, so the last write holds them all. What was exported where is per-run
 * state (`setup`), so a watch session's next run starts afresh.
 */
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { defineStage, GadgetError, t, type Infer } from "../core/types.js";
/** The library, loaded when the stage runs. */
import { library } from "./api.js";

const options = t.object({
  /** Destination tar (relative paths: to the gadgetfile's folder). */
  file: t.required(t.string()),
});
export type TarExportOptions = Infer<typeof options>;

/** Per run: the references exported to each file so far, and the chain of writes to it. */
type ExportsByFile = Map<string, { refs: Set<string>; chain: Promise<unknown> }>;

export const tarExportStage = defineStage({
  name: "tar-export",
  version: "1",
  description: "export the gadgets' images into an OCI-layout tar",
  cacheable: false,
  publishTarget: true,
  options,
  result: t.object({ file: t.required(t.string()), images: t.required(t.array(t.object({ reference: t.required(t.string()), digest: t.required(t.string()) }))) }),
  setup: (): ExportsByFile => new Map(),
  async run(ctx) {
    const { exportImages } = await library();
    const file = ctx.options.file;
    if (file === "") throw new GadgetError({ what: "tar-export", which: ctx.gadget.name, why: 'the target needs a "file"' });
    const reference = ctx.gadget.tag;
    if (!reference) throw new GadgetError({ what: "nothing to export", which: ctx.gadget.name, why: "the gadget has no tag", hint: 'give the gadget a tag (defaults.tag: "{name}:v1")' });
    const abs = resolve(ctx.projectRoot, file);
    const store = await ctx.store();
    await mkdir(dirname(abs), { recursive: true });
    let entry = ctx.state.get(abs);
    if (!entry) {
      entry = { refs: new Set(), chain: Promise.resolve() };
      ctx.state.set(abs, entry);
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
