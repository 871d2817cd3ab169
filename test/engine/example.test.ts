import { describe, expect, it } from "vitest";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";
import { loadGadgetfile } from "../../core/gadgetfile/load.js";
import { effectiveTasks, orderTasks, planSteps } from "../../core/gadgetfile/tasks.js";

describe("gadgetfile.ts.example", () => {
  it("loads, validates, and plans its tasks (every key of the gadgetfile API is used)", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await copyFile(join(REPO_ROOT, "gadgetfile.ts.example"), join(dir, "gadgetfile.ts"));
      const gf = await loadGadgetfile(join(dir, "gadgetfile.ts"), { cache: false });
      const c = gf.config;
      expect(Object.keys(c).sort()).toEqual(["cache", "check", "defaults", "gadgets", "plugins", "publish", "tasks", "watch"]);
      expect(c.watch?.exec).toEqual(["ig run {ref} --verify-image=false"]);
      expect(Object.keys(c.cache ?? {}).sort()).toEqual(["publicKeys", "readOnly", "remote", "signKey"]);
      const specs = c.gadgets.filter((g) => typeof g !== "string") as unknown as Record<string, unknown>[];
      const used = new Set(specs.flatMap((s) => Object.keys(s)));
      for (const k of ["path", "name", "tag", "archs", "cflags", "wasm", "ebpfsource", "metadata", "validateMetadata", "settings"]) expect(used).toContain(k);
      expect(new Set(c.publish!.map((p) => p.type))).toEqual(new Set(["store-tag", "push", "tar-export", "sign"]));
      const tasks = effectiveTasks(c);
      const order = orderTasks(tasks, ["ci", "publish"], "gadgetfile.ts", gf.source);
      expect(order).toEqual(["lint", "ci", "build", "publish"]);
      const steps = planSteps(c, tasks, order).map((s) => (typeof s.spec === "string" ? s.spec : s.spec.stage));
      expect(steps.slice(0, 2)).toEqual(["spdx-check", "@acme/lint"]);
      expect(steps.at(-1)).toBe("tar-export");
      // relative paths in options stay as written: stages resolve them against the gadgetfile's folder
      const tar = planSteps(c, tasks, ["publish"]).find((s) => typeof s.spec !== "string" && s.spec.stage === "tar-export")!.spec as unknown as { options: { file: string } };
      expect(tar.options.file).toBe("dist/gadgets.tar");
    } finally {
      await cleanup();
    }
  });
});
