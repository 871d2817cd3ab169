/**
 * `gadget image build PATH`: flags → buildImage() (core/image/build.ts). Prints
 * `Successfully built <repo>:<tag>@sha256:…` (untagged: `@sha256:…`) on stderr as ig (cobra's
 * cmd.Printf), or one JSON document on stdout.
 */
import { GadgetError, usageError } from "../../errors.js";
import { buildImage, loadIgRecipe } from "../../image/build.js";
import { igImageString } from "../../oci/reference.js";
import type { Logger } from "../../types.js";
import { buildEnv, type CommandContext } from "../context.js";

/** ig's output line: `<repository>:<tag>@<digest>`, or `@<digest>` when untagged. */
export function builtLine(reference: string | undefined, digest: string): string {
  return `Successfully built ${igImageString(reference, digest)}`;
}


export async function run(ctx: CommandContext): Promise<void> {
  if (ctx.flagString("builder-image") !== undefined) {
    throw new GadgetError({
      what: "container builds are not supported",
      which: "--builder-image",
      why: "gadget always builds with the tools on PATH (clang, llvm-strip, bpftool)",
      hint: "drop --builder-image (--local is the default); scripts/bootstrap installs the tools",
      exitCode: 2,
      code: "USAGE",
    });
  }
  const pullPolicy = ctx.flagString("builder-image-pull");
  if (pullPolicy !== undefined && !["always", "missing", "never"].includes(pullPolicy)) {
    throw usageError(`invalid value for --builder-image-pull: ${pullPolicy}`, "valid values are always, missing, never (gadget builds without a builder image, so the value has no effect)");
  }
  const builderVersion = ctx.flagString("builder-version");
  if (builderVersion !== undefined) (await import("../../builder-version.js")).checkBuilderVersion(builderVersion, "--builder-version");
  const path = ctx.args[0];
  if (path === undefined) throw usageError("missing PATH", "gadget image build PATH (the gadget folder, e.g. `.`)");
  const json = ctx.flagBool("json");
  const archFlag = ctx.flagList("arch");
  const archs = archFlag.length > 0 ? await (await loadIgRecipe()).parseArchs(archFlag) : undefined;
  if (ctx.flagBool("btfgen") && ctx.flagString("btfhub-archive")) ctx.warn("btfgen is enabled, building will take a while...");

  const logger: Logger = {
    info: (m) => {
      if (ctx.verbose || ctx.stderrIsTTY) ctx.warn(m);
    },
    warn: (m) => ctx.warn(`Warning: ${m}`),
    // tool diagnostics (clang's "file:line:col: warning: …") verbatim
    diagnostics: (text) => ctx.warn(text),
    debug: (m) => {
      if (ctx.verbose) ctx.warn(m);
    },
  };
  const str = (name: string) => ctx.flagString(name);
  const result = await buildImage({
    path,
    storeDir: ctx.storeDir(),
    cwd: ctx.cwd,
    ...(str("file") !== undefined ? { file: str("file")! } : {}),
    ...(str("tag") !== undefined ? { tag: str("tag")! } : {}),
    ...(archs ? { archs } : {}),
    ...(str("output") !== undefined ? { outputDir: str("output")! } : {}),
    updateMetadata: ctx.flagBool("update-metadata"),
    validateMetadata: ctx.flags["validate-metadata"] !== false,
    btfgen: ctx.flagBool("btfgen"),
    ...(str("btfhub-archive") !== undefined ? { btfhubArchive: str("btfhub-archive")! } : {}),
    ...(builderVersion !== undefined ? { builderVersion } : {}),
    env: buildEnv(ctx),
    logger,
    ...(ctx.stderrIsTTY && !json
      ? { onEvent: (e: { type: string; stage: string; arch?: string; ms?: number }) => void (e.type === "done" && ctx.warn(`  ${e.stage}${e.arch ? ` (${e.arch})` : ""} ${Math.round(e.ms ?? 0)} ms`)) }
      : {}),
  });
  if (json) ctx.out(JSON.stringify({ gadget: result.gadget, reference: result.reference ?? null, digest: result.digest, size: result.size, manifests: result.manifests }));
  // ig: cmd.Printf (cobra writes it to stderr)
  else ctx.warn(builtLine(result.reference, result.digest));
}
