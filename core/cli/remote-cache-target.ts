/**
 * The remote step cache `gadget cache ls --remote` and `gadget cache prune --remote` work on:
 * `--remote-cache REF`, else GADGET_REMOTE_CACHE, else the gadgetfile's `cache.remote`; opened
 * with the registry flags push and pull take (--authfile, --cert-dir, --insecure-registries).
 */
import { dirname } from "node:path";
import { GadgetError } from "../errors.js";
import type { CommandContext } from "./context.js";
import type { RemoteRepository } from "../registry/repository.js";
import type { RemoteCacheSettings } from "../engine/remote-cache-config.js";
import { transferOptionsFromFlags } from "./registry-options.js";

export async function openRemoteCacheTarget(ctx: CommandContext, intent: "pull" | "push"): Promise<{ settings: RemoteCacheSettings; repo: RemoteRepository }> {
  const [{ resolveRemoteCache }, { findGadgetfile, loadGadgetfile }] = await Promise.all([import("../engine/remote-cache-config.js"), import("../gadgetfile/load.js")]);
  const flag = ctx.flagString("remote-cache");
  let settings: RemoteCacheSettings | undefined;
  if (flag !== undefined || ctx.env.GADGET_REMOTE_CACHE) {
    settings = resolveRemoteCache({ ...(flag !== undefined ? { flag } : {}), env: ctx.env, baseDir: ctx.cwd });
  } else {
    const file = findGadgetfile(ctx.cwd, ctx.flagString("file"));
    const gf = await loadGadgetfile(file, { cache: true });
    settings = resolveRemoteCache({ env: ctx.env, ...(gf.config.cache ? { gadgetfile: gf.config.cache } : {}), baseDir: dirname(file) });
  }
  if (!settings) {
    throw new GadgetError({ what: "no remote cache", why: "no --remote-cache, GADGET_REMOTE_CACHE or cache.remote in the gadgetfile", hint: "pass --remote-cache REGISTRY/REPO", exitCode: 2, code: "USAGE" });
  }
  const [{ openRemoteRepository }, { parseReference }] = await Promise.all([import("../registry/open.js"), import("../oci/reference.js")]);
  const opts = transferOptionsFromFlags(ctx, settings.reference);
  const repo = await openRemoteRepository(parseReference(settings.reference), { ...opts, intent });
  return { settings, repo };
}
