/**
 * tar-export (publish target `{ type: "tar-export", file }`): writes the gadgets' images into an
 * OCI-layout tar with the library's exportImages (the same code as `gadget image export`), with
 * every signature the store holds for them. A batch stage: it runs once per run, after every
 * gadget has reached it (and after the sign targets, which run before anything leaves the
 * machine), and writes each file once with all of its images — `{name}` in `file` gives one tar
 * per gadget, otherwise every gadget of the run goes into the one file. Each gadget's result is
 * the whole file's content: { file, images, signatures }.
 */
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { defineStage, GadgetError, t, type Infer, type StageContext, type StageResult } from "../core/types.js";
/** The library, loaded when the stage runs. */
import { library } from "./api.js";

const options = t.object({
  /** Destination tar (relative paths: to the gadgetfile's folder). */
  file: t.required(t.string()),
});
export type TarExportOptions = Infer<typeof options>;

const result = t.object({
  file: t.required(t.string()),
  images: t.required(t.array(t.object({ reference: t.required(t.string()), digest: t.required(t.string()) }))),
  /** The signature tags in the tar (`sha256-<hex>.sig`, `sha256-<hex>`). */
  signatures: t.required(t.array(t.string())),
});
type Result = Infer<typeof result>;
type Ctx = StageContext<TarExportOptions, undefined>;

function noTag(ctx: Ctx): GadgetError {
  return new GadgetError({ what: "nothing to export", which: ctx.gadget.name, why: "the gadget has no tag", hint: 'give the gadget a tag (defaults.tag: "{name}:v1")' });
}

export const tarExportStage = defineStage({
  name: "tar-export",
  version: "2",
  description: "export the gadgets' images (and their signatures) into an OCI-layout tar, once for all gadgets",
  cacheable: false,
  publishTarget: true,
  leavesMachine: true,
  options,
  result,
  async runBatch(ctxs) {
    const { exportImages } = await library();
    const outcomes: (StageResult<Result> | Error)[] = new Array(ctxs.length);
    // one write per file, with every gadget that goes into it
    const byFile = new Map<string, number[]>();
    ctxs.forEach((ctx, i) => {
      if (ctx.options.file === "") outcomes[i] = new GadgetError({ what: "tar-export", which: ctx.gadget.name, why: 'the target needs a "file"' });
      else if (!ctx.gadget.tag) outcomes[i] = noTag(ctx);
      else {
        const abs = resolve(ctx.projectRoot, ctx.options.file);
        byFile.set(abs, [...(byFile.get(abs) ?? []), i]);
      }
    });
    for (const [abs, members] of byFile) {
      const first = ctxs[members[0]!]!;
      try {
        const store = await first.store();
        await mkdir(dirname(abs), { recursive: true });
        const r = await exportImages({ storeDir: store.root, references: members.map((i) => ctxs[i]!.gadget.tag!), file: abs });
        const res: Result = { file: r.file, images: r.images.map((x) => ({ reference: x.reference, digest: x.digest })), signatures: r.signatures ?? [] };
        first.logger.info(`exported ${res.images.length} image(s) and ${res.signatures.length} signature tag(s) to ${first.options.file}`);
        for (const i of members) outcomes[i] = { result: res };
      } catch (e) {
        for (const i of members) outcomes[i] = e instanceof Error ? e : new Error(String(e));
      }
    }
    return outcomes;
  },
});

export default tarExportStage;
