/**
 * push (publish target `{ type: "push", tag?, … }`): pushes the gadget's packed image to its
 * registry with the library's pushImage (the same code as `gadget image push`), with the
 * signatures the store holds for it (sign targets run first). The reference is the step's `tag`
 * (`{name}` is the gadget's name) or the gadget's own tag; a step tag is first applied in the
 * local store so the pushed name and the stored one agree.
 *
 * Registry settings: the target's own `authfile`, `certDir`, `insecureRegistries` (relative paths:
 * to the gadgetfile's folder), else the run's (`gadget run --authfile/--cert-dir/
 * --insecure-registries/--timeout`, passed as REGISTRY_AUTH_FILE, GADGET_CERT_DIR,
 * GADGET_INSECURE_REGISTRIES, GADGET_REGISTRY_TIMEOUT — also usable directly). An interrupted run
 * aborts the push at once (ctx.signal). A failure names the gadget and the reference.
 * Result { reference, digest, pushed, uploaded, mounted, skipped, signatures }.
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
 * The registry client's hints name the `--cert-dir` and `--insecure-registries` flags, which
 * `gadget run` has too; in a gadgetfile the same settings are also the push target's options —
 * say both (a hint names what works where it is printed).
 */
export function targetHint(hint: string | undefined): string | undefined {
  if (!hint) return hint;
  return hint
    .replace(/(?:pass |use )?--insecure-registries ([^\s,]+)/g, (_m, host: string) => `pass --insecure-registries ${host} (or set insecureRegistries: ["${host}"] on the push target)`)
    .replace(/--cert-dir DIR/g, '--cert-dir DIR (or certDir: "DIR" on the push target)');
}

/** The environment variables `gadget run`'s registry flags become (and CI may set directly). */
export const CERT_DIR_ENV = "GADGET_CERT_DIR";
export const INSECURE_REGISTRIES_ENV = "GADGET_INSECURE_REGISTRIES";

export const pushStage = defineStage({
  name: "push",
  version: "2",
  description: "push the gadget's image (and its signatures) to its registry",
  cacheable: false,
  publishTarget: true,
  leavesMachine: true,
  options,
  result: t.object({
    reference: t.required(t.string()),
    digest: t.required(t.string()),
    pushed: t.required(t.boolean()),
    /** Blobs uploaded, mounted from another repository, and skipped (the registry had them). */
    uploaded: t.integer(),
    mounted: t.integer(),
    skipped: t.integer(),
    /** Signature tags sent along, with their digests. */
    signatures: t.array(t.object({ tag: t.required(t.string()), digest: t.required(t.string()) })),
  }),
  async run(ctx) {
    const { MediaType, parseIndex, pushImage, pushResultLine, registryTimeouts, sha256 } = await library();
    const art = ctx.artifacts.get("index");
    if (!art) throw new GadgetError({ what: "nothing to push", which: ctx.gadget.name, why: "no packed index (oci-pack must run before push)" });
    const reference = ctx.options.tag ?? ctx.gadget.tag;
    if (!reference) throw new GadgetError({ what: "nothing to push", which: ctx.gadget.name, why: "the gadget has no tag", hint: 'give the gadget a tag (defaults.tag: "registry/{name}:v1") or the push target a tag' });
    const store = await ctx.store();
    const bytes = await readFile(art.path);
    const desc = { mediaType: MediaType.ImageIndex, digest: sha256(bytes), size: bytes.byteLength };
    if (ctx.options.tag) await store.tag(desc, reference, { ...(parseIndex(bytes.toString("utf8"), "index").annotations ?? {}) });
    const { insecure, concurrency } = ctx.options;
    const authfile = ctx.options.authfile ? resolve(ctx.projectRoot, ctx.options.authfile) : ctx.env.REGISTRY_AUTH_FILE || undefined;
    const certDir = ctx.options.certDir ? resolve(ctx.projectRoot, ctx.options.certDir) : ctx.env[CERT_DIR_ENV] || undefined;
    const insecureRegistries = ctx.options.insecureRegistries ?? (ctx.env[INSECURE_REGISTRIES_ENV] ?? "").split(",").filter(Boolean);
    let r;
    try {
      r = await pushImage({
        storeDir: store.root,
        reference,
        ...(authfile ? { authfile } : {}),
        ...(certDir ? { certDir } : {}),
        ...(insecure ? { insecure: true } : {}),
        ...(insecureRegistries.length > 0 ? { insecureRegistries } : {}),
        ...(concurrency ? { concurrency } : {}),
        timeouts: registryTimeouts(undefined, ctx.env),
        env: ctx.env as NodeJS.ProcessEnv,
        signal: ctx.signal,
      });
    } catch (e) {
      // name the gadget and the reference; keep the registry's own words, code and hint
      if (!(e instanceof GadgetError) || e.code === "ABORTED") throw e;
      const hint = targetHint(e.hint);
      throw new GadgetError({ what: `pushing ${ctx.gadget.name}`, which: reference, why: e.message, ...(hint ? { hint } : {}), ...(e.code ? { code: e.code } : {}), cause: e });
    }
    ctx.logger.info(pushResultLine(r));
    return {
      result: {
        reference: r.reference,
        digest: r.digest,
        pushed: true,
        uploaded: r.stats?.uploaded ?? 0,
        mounted: r.stats?.mounted ?? 0,
        skipped: r.stats?.skipped ?? 0,
        signatures: (r.signatures ?? []).map((s) => ({ tag: s.refName, digest: s.digest })),
      },
    };
  },
});

export default pushStage;
