/**
 * Gap 2 of issue 17: the `io.inspektor-gadget.builder.version` annotation. ig compares it with its
 * own version when it loads a gadget — pkg/operators/oci-handler/oci.go, checkBuilderVersion:
 *
 *   if !builderVersion.EQ(currentVersion) {
 *     logger.Warnf("This gadget was built with ig %s and it's being run with v%s. Gadget could be incompatible", …)
 *
 * so the value comes from --builder-version, else env GADGET_BUILDER_VERSION, else the gadgetfile's
 * builderVersion, else `ig version` of an ig on PATH, else ours (`v<version>+gadget`).
 * No ig binary exists on these machines: the "ig on PATH" case uses a two-line `ig` script that
 * prints what `ig version` prints (cmd/common/version.go: `fmt.Println(version)`).
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { blobJson, digestOf, requireTools } from "./helpers.js";
import { parseIgVersion } from "../../core/builder-version.js";
import { readFileSync } from "node:fs";
import { REPO_ROOT } from "../helpers/cli.js";

const KEY = "io.inspektor-gadget.builder.version";
const PROGRAM = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

let root: string;
let cleanup: () => Promise<void>;
let gadget: string;

beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  ({ dir: root, cleanup } = await tempDir("gadget-builder-version-"));
  gadget = join(root, "g");
  await mkdir(gadget);
  await writeFile(join(gadget, "program.bpf.c"), PROGRAM);
  await writeFile(join(gadget, "gadget.yaml"), "name: g\ndescription: builder version test\n");
});
afterAll(async () => cleanup?.());

/** Build into a fresh store and return the annotation on the index, the manifest and the config. */
async function build(args: string[], env: Record<string, string | undefined> = {}): Promise<string[]> {
  const store = join(root, `store-${Math.random().toString(36).slice(2)}`);
  const r = await runGadget(["image", "build", gadget, "--arch", "amd64", "--oci-store", store, ...args], { env: { SOURCE_DATE_EPOCH: "1700000000", ...env } });
  expect(r.stderr.replace(/^Successfully built .*\n/m, "")).toBe("");
  expect(r.code).toBe(0);
  const index = await blobJson(store, digestOf(r.stderr));
  const manifest = await blobJson(store, index.manifests[0].digest);
  return [index.annotations[KEY], manifest.annotations[KEY], manifest.config.annotations[KEY]];
}

describe("builder version", () => {
  it("defaults to gadget's own version when no ig is on PATH", async () => {
    expect(await build([], { GADGET_BUILDER_VERSION: undefined })).toEqual(Array(3).fill(`v${JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version}+gadget`));
  });

  it("--builder-version sets it everywhere the annotation is written", async () => {
    expect(await build(["--builder-version", "v0.41.0"], { GADGET_BUILDER_VERSION: "v9.9.9" })).toEqual(Array(3).fill("v0.41.0"));
  });

  it("env GADGET_BUILDER_VERSION is used when no flag is given", async () => {
    expect(await build([], { GADGET_BUILDER_VERSION: "v0.40.0" })).toEqual(Array(3).fill("v0.40.0"));
  });

  it("takes `ig version` of an ig found on PATH", async () => {
    const bin = join(root, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "ig"), "#!/bin/sh\n[ \"$1\" = version ] && echo v0.39.2\n");
    await chmod(join(bin, "ig"), 0o755);
    expect(await build([], { GADGET_BUILDER_VERSION: undefined, PATH: `${bin}${delimiter}${process.env.PATH}` })).toEqual(Array(3).fill("v0.39.2"));
  });

  it("the gadgetfile's defaults.builderVersion applies to `gadget run`", async () => {
    const proj = join(root, "proj");
    await mkdir(join(proj, "gadgets"), { recursive: true });
    const { cp } = await import("node:fs/promises");
    await cp(gadget, join(proj, "gadgets", "g"), { recursive: true });
    await writeFile(
      join(proj, "gadgetfile.ts"),
      `import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], defaults: { tag: "gf/{name}:v1", archs: ["amd64"], builderVersion: "v0.38.0" } });\n`,
    );
    const store = join(root, "store-gf");
    const r = await runGadget(["run", "--oci-store", store, "--json"], { cwd: proj, env: { SOURCE_DATE_EPOCH: "1700000000", GADGET_BUILDER_VERSION: undefined } });
    expect(r.code).toBe(0);
    const digest = JSON.parse(r.stdout).gadgets[0].digest as string;
    const index = await blobJson(store, digest);
    expect(index.annotations[KEY]).toBe("v0.38.0");
  });

  it("an empty or blank --builder-version is a usage error", async () => {
    const r = await runGadget(["image", "build", gadget, "--builder-version", " v1", "--oci-store", join(root, "store-bad")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Error: invalid builder version (--builder-version): " v1" is empty or contains whitespace\nhint: give ig\'s version as `ig version` prints it, e.g. v0.41.0\n');
  });

  it("reads the version from `ig version` output", () => {
    expect(parseIgVersion("v0.41.0\n")).toBe("v0.41.0");
    expect(parseIgVersion("v0.41.0-12-gabcdef\n")).toBe("v0.41.0-12-gabcdef");
    expect(parseIgVersion("undefined\n")).toBeUndefined();
  });
});
