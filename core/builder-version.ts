/**
 * Which `io.inspektor-gadget.builder.version` an image gets (DESIGN §4). ig compares it with its
 * own version when it loads a gadget (pkg/operators/oci-handler/oci.go, checkBuilderVersion) and
 * warns "This gadget was built with ig <v> and it's being run with v<ig> …" whenever the two
 * differ (semver, build metadata ignored). So by default we write the version of the `ig` the
 * user has: first match wins —
 *
 *   1. an explicit value (`gadget image build --builder-version`, the oci-pack `builderVersion` option),
 *   2. env `GADGET_BUILDER_VERSION`,
 *   3. the gadgetfile's `builderVersion` (`defaults` or per gadget),
 *   4. the version an `ig` on PATH reports (`ig version`),
 *   5. ours (`v<package version>+gadget`).
 */
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { GadgetError } from "./errors.js";
import { builderVersion as ownBuilderVersion } from "./version.js";

export type BuilderVersionSource = "option" | "env" | "gadgetfile" | "ig" | "gadget";

export interface ResolvedBuilderVersion {
  version: string;
  source: BuilderVersionSource;
}

export interface BuilderVersionInputs {
  option?: string | undefined;
  gadgetfile?: string | undefined;
  env?: Readonly<Record<string, string | undefined>>;
}

/** A version string as it can stand in an annotation: printable, no whitespace. */
export function checkBuilderVersion(value: string, which: string): string {
  if (value === "" || /[\s\p{Cc}]/u.test(value)) {
    throw new GadgetError({
      what: "invalid builder version",
      which,
      why: `${JSON.stringify(value)} is empty or contains whitespace`,
      hint: "give ig's version as `ig version` prints it, e.g. v0.41.0",
      exitCode: 2,
      code: "USAGE",
    });
  }
  return value;
}

/** The first semver-looking token of `ig version`'s output (`v0.41.0`, `v0.41.0-12-gabc`), or undefined. */
export function parseIgVersion(output: string): string | undefined {
  const m = /(?:^|\s)(v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)(?=\s|$)/.exec(output);
  return m?.[1];
}

async function findOnPath(name: string, pathVar: string | undefined): Promise<string | undefined> {
  for (const dir of (pathVar ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const igCache = new Map<string, Promise<string | undefined>>();

/** `ig version` of the ig on PATH (once per PATH value per process); undefined when there is none or it fails. */
export function igVersionOnPath(env: Readonly<Record<string, string | undefined>> = process.env): Promise<string | undefined> {
  const pathVar = env.PATH;
  const key = pathVar ?? "";
  let p = igCache.get(key);
  if (!p) {
    p = (async () => {
      const ig = await findOnPath("ig", pathVar);
      if (!ig) return undefined;
      const { exec } = await import("./engine/exec.js");
      try {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 10_000);
        try {
          const out = await exec(ig, ["version"], { nothrow: true, signal: controller.signal, baseEnv: env });
          return out.exitCode === 0 ? parseIgVersion(out.stdout) : undefined;
        } finally {
          clearTimeout(timer);
        }
      } catch {
        return undefined;
      }
    })();
    igCache.set(key, p);
  }
  return p;
}

export async function resolveBuilderVersion(inputs: BuilderVersionInputs): Promise<ResolvedBuilderVersion> {
  const env = inputs.env ?? process.env;
  if (inputs.option !== undefined) return { version: checkBuilderVersion(inputs.option, "--builder-version"), source: "option" };
  const fromEnv = env.GADGET_BUILDER_VERSION;
  if (fromEnv !== undefined && fromEnv !== "") return { version: checkBuilderVersion(fromEnv, "GADGET_BUILDER_VERSION"), source: "env" };
  if (inputs.gadgetfile !== undefined) return { version: checkBuilderVersion(inputs.gadgetfile, "gadgetfile builderVersion"), source: "gadgetfile" };
  const ig = await igVersionOnPath(env);
  if (ig) return { version: ig, source: "ig" };
  return { version: ownBuilderVersion(), source: "gadget" };
}
