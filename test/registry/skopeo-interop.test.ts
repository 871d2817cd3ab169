import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "./fixtures.js";

const exec = promisify(execFile);
let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };

async function skopeo(args: string[], encoding: "buffer" | "utf8" = "utf8"): Promise<Buffer | string> {
  try {
    const r = await exec("skopeo", args, { encoding: encoding === "buffer" ? "buffer" : "utf8", maxBuffer: 64 * 1024 * 1024 });
    return r.stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === "ENOENT") throw new Error("skopeo is not installed: run scripts/bootstrap");
    throw new Error(`skopeo ${args.join(" ")} failed: ${err.stderr ?? err.message}`);
  }
}

beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-skopeo-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("skopeo interop", () => {
  it("what we push, skopeo inspect --raw returns byte-identical", async () => {
    const a = join(tmp.dir, "a");
    const ref = `${reg.host}/interop/ours:v1`;
    const img = await makeImage(a, ref);
    await pushImage({ storeDir: a, reference: ref, insecureRegistries: [reg.host] });
    const store = await LayoutStore.open(a);
    const raw = (await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${ref}`], "buffer")) as Buffer;
    expect(Buffer.compare(raw, await store.fetchBytes(img.index))).toBe(0);
    const index = JSON.parse(raw.toString()) as { manifests: { digest: string }[] };
    for (const m of index.manifests) {
      const mraw = (await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/interop/ours@${m.digest}`], "buffer")) as Buffer;
      expect(Buffer.compare(mraw, await store.readBlob(m.digest as never))).toBe(0);
    }
  });

  it("skopeo copy --all of an OCI layout, then our pull gets the same digests", async () => {
    const a = join(tmp.dir, "b");
    const local = `${reg.host}/interop/src:v2`;
    const img = await makeImage(a, local, { layerSize: 200_000 });
    const dest = `${reg.host}/interop/by-skopeo:v2`;
    await skopeo(["copy", "--all", "--dest-tls-verify=false", `oci:${a}:${local}`, `docker://${dest}`]);
    const c = join(tmp.dir, "c");
    const r = await pullImage({ storeDir: c, reference: dest, insecureRegistries: [reg.host] });
    expect(r.digest).toBe(img.index.digest);
    const sc = await LayoutStore.open(c);
    expect((await sc.listBlobs()).sort()).toEqual([...img.digests].sort());
  });
});
