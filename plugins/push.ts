/**
 * push (publish target `{ type: "push", tag?, … }`): pushes the gadget's packed image to its
 * registry with the library's pushImage (the same code as `gadget image push`). The reference is
 * the step's `tag` (`{name}` is the gadget's name) or the gadget's own tag; a step tag is first
 * applied in the local store so the pushed name and the stored one agree. Relative `authfile`
 * and `certDir` are relative to the gadgetfile's folder.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { defineStage, GadgetError, t, type Infer } from "../core/types.js";
/** The library, loaded when the stage runs (loading the stage stays cheap for runs that never push). */
import { library } from "./api.js";

const options = t.object({
  /** Reference to push (default: the gadget's tag). */
  tag: t.string(),
  /** Plain HTTP for this reference's registry (older ig's --insecure). */
  insecure: t.boolean(),
  /** Registries to reach over plain HTTP (host[:port]). */
  insecureRegistries: t.array(t.string()),
  /** Auth file (docker config format). */
  authfile: t.string(),
  /** docker certs.d-style folder: ca.crt, client.cert, client.key. */
  certDir: t.string(),
  /** Parallel blob transfers (default 4). */
  concurrency: t.integer({ min: 1, max: 64 }),
});
export type PushStageOptions = Infer<typeof options>;

/**
 * The registry client's hints name `gadget image push` flags; in a gadgetfile the same settings
 * are the push target's options — say that instead (a hint names what works where it is printed).
 */
export function targetHint(hint: string | undefined): string | undefined {
  if (!hint) return hint;
  return hint
    .replace(/(?:pass |use )?--insecure-registries ([^\s,]+)/g, (_m, host: string) => `set insecureRegistries: ["${host}"] on the push target`)
    .replace(/--cert-dir DIR/g, 'certDir: "DIR" on the push target');
}

export const pushStage = defineStage({
  name: "push",
  version: "1",
  description: "push the gadget's image to its registry",
  cacheable: false,
  publishTarget: true,
  options,
  result: t.object({ reference: t.required(t.string()), digest: t.required(t.string()), pushed: t.required(t.boolean()) }),
  async run(ctx) {
    const { MediaType, parseIndex, pushImage, pushResultLine, sha256 } = await library();
    const art = ctx.artifacts.get("index");
    if (!art) throw new GadgetError({ what: "nothing to push", which: ctx.gadget.name, why: "no packed index (oci-pack must run before push)" });
    const reference = ctx.options.tag ?? ctx.gadget.tag;
    if (!reference) throw new GadgetError({ what: "nothing to push", which: ctx.gadget.name, why: "the gadget has no tag", hint: 'give the gadget a tag (defaults.tag: "registry/{name}:v1") or the push target a tag' });
    const store = await ctx.store();
    const bytes = await readFile(art.path);
    const desc = { mediaType: MediaType.ImageIndex, digest: sha256(bytes), size: bytes.byteLength };
    if (ctx.options.tag) await store.tag(desc, reference, { ...(parseIndex(bytes.toString("utf8"), "index").annotations ?? {}) });
    const { authfile, certDir, insecure, insecureRegistries, concurrency } = ctx.options;
    let r: Awaited<ReturnType<typeof pushImage>>;
    try {
      r = await pushImage({
        storeDir: store.root,
        reference,
        ...(authfile ? { authfile: resolve(ctx.projectRoot, authfile) } : {}),
        ...(certDir ? { certDir: resolve(ctx.projectRoot, certDir) } : {}),
        ...(insecure ? { insecure: true } : {}),
        ...(insecureRegistries ? { insecureRegistries } : {}),
        ...(concurrency ? { concurrency } : {}),
        env: ctx.env as NodeJS.ProcessEnv,
      });
    } catch (e) {
      if (!(e instanceof GadgetError) || targetHint(e.hint) === e.hint) throw e;
      throw new GadgetError({ what: e.what, which: e.which, why: e.why, hint: targetHint(e.hint), exitCode: e.exitCode, ...(e.location ? { location: e.location } : {}), ...(e.code ? { code: e.code } : {}), cause: e });
    }
    ctx.logger.info(pushResultLine(r));
    return { result: { reference: r.reference, digest: r.digest, pushed: true } };
  },
});

export default pushStage;
