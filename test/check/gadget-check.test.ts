/**
 * `gadget check` / `gadget run check`: the gadgetfile's check task — build (cached), then one batch
 * check of every gadget's objects: the host kernel and Debian's 6.1 kernel booted once for all of
 * them. Unchanged gadgets re-checked are answered from the caches: no boot (a 1 ms watchdog would
 * fail any boot).
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { kernel61, qemuPidsMentioning, requireCheckTools } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
let k61: string;
let first: RunResult;

const GADGETS = ["good", "kfunc_new", "bad_ptr"];

function gadgetfile(extra = ""): string {
  return `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { archs: ["amd64"], cflags: ["-I", "../../include"] },
  check: { kernels: ["host", ${JSON.stringify(k61)}] },${extra}
});
`;
}

const run = (args: string[]) => runGadget([...args, "--oci-store", join(root, "store")], { cwd: root, env: { SOURCE_DATE_EPOCH: "1700000000" }, timeoutMs: 300_000 });

beforeAll(async () => {
  requireCheckTools();
  k61 = kernel61();
  ({ dir: root, cleanup } = await tempDir("gadget-check-task-"));
  await mkdir(join(root, "gadgets"));
  for (const g of GADGETS) await cp(join(REPO_ROOT, "test", "fixtures", "check", g), join(root, "gadgets", g), { recursive: true });
  await cp(join(REPO_ROOT, "test", "fixtures", "check", "include"), join(root, "include"), { recursive: true });
  await writeFile(join(root, "gadgetfile.ts"), gadgetfile());
  first = await run(["check", "--json"]);
}, 300_000);
afterAll(async () => cleanup?.());

interface Json {
  ok: boolean;
  kernels: { label: string; kind: string; bootMs?: number }[];
  results: { object: string; kernel: string; status: string; reason?: string; cached: boolean; programs: { name: string; insns: number; loaded: boolean }[] }[];
}

describe("gadget check (the check task over a gadgetfile)", () => {
  it("one batch for all gadgets: loaded where the kernel has what they use, refused with the verifier's line where not; exit 1", () => {
    expect(first.code, first.stderr).toBe(1);
    const j = JSON.parse(first.stdout) as Json;
    expect(j.ok).toBe(false);
    expect(j.kernels.map((k) => k.kind)).toEqual(["host", "vm"]);
    const at = (o: string, k: "host" | "6.1") => j.results.find((r) => r.object === o && (k === "host" ? r.kernel === "host" : r.kernel.startsWith("6.1.")))!;
    expect(at("good", "host").status).toBe("loaded");
    expect(at("good", "6.1").status).toBe("loaded");
    expect(at("good", "6.1").programs.filter((p) => p.loaded).every((p) => p.insns > 0)).toBe(true);
    expect(at("kfunc_new", "host").status).toBe("loaded");
    expect(at("kfunc_new", "6.1").status).toBe("refused");
    expect(at("kfunc_new", "6.1").reason).toMatch(/bpf_rcu_read_lock.*not found in kernel/);
    expect(at("bad_ptr", "host").reason).toMatch(/R0 invalid mem access 'scalar'/);
    expect(at("bad_ptr", "6.1").status).toBe("refused");
  });

  it("the human output: one line per gadget × kernel, then the table; gadget run check marks the refused gadgets ✗", async () => {
    const r = await run(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✓ good +host +\d+ progs +max \d+ insns/m);
    expect(r.stdout).toMatch(/^✗ kfunc_new +6\.1\.\S+ +.*bpf_rcu_read_lock/m);
    expect(r.stdout).toMatch(/^GADGET +ARCH +PROGRAM +host +6\.1\./m);
    const viaRun = await run(["run", "check"]);
    expect(viaRun.code).toBe(1);
    expect(viaRun.stdout).toMatch(/^✓ good \d+ ms/m);
    expect(viaRun.stdout).toMatch(/^✗ bad_ptr \d+ ms$/m);
    expect(viaRun.stderr).toMatch(/^Error: refused by the verifier \(bad_ptr on host, 6\.1\.\S+\): check_bad_deref: R0 invalid mem access 'scalar'$/m);
  });

  it("unchanged gadgets re-checked: no boot (1 ms watchdog), every result from a cache; naming gadgets checks only those", async () => {
    const again = await run(["check", "--json", "--timeout", "1ms"]);
    expect(again.code).toBe(1);
    const j = JSON.parse(again.stdout) as Json;
    expect(j.kernels.every((k) => k.bootMs === undefined)).toBe(true);
    expect(j.results.filter((r) => r.status !== "not-checked").length).toBe(6);
    const only = await run(["check", "good", "--json", "--timeout", "1ms"]);
    expect(only.code).toBe(0);
    expect([...new Set((JSON.parse(only.stdout) as Json).results.map((r) => r.object))]).toEqual(["good"]);
    expect(await qemuPidsMentioning(root)).toEqual([]);
  });

  it("check options are checked against the stage's schema, with the gadgetfile line; --kernels overrides", async () => {
    await writeFile(join(root, "gadgetfile.ts"), gadgetfile(`\n  tasks: {},`).replace("check: { kernels:", "check: { kernelz:"));
    const bad = await run(["check"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split("\n")[0]).toMatch(/^Error: invalid gadgetfile \(gadgetfile\.ts:5: check\.kernelz\): unknown key "kernelz" \(known keys: kernels, accel, timeout\) for stage check$/);
    await writeFile(join(root, "gadgetfile.ts"), gadgetfile());
    const hostOnly = await run(["check", "good", "--kernels", "host", "--json"]);
    expect(hostOnly.code).toBe(0);
    expect((JSON.parse(hostOnly.stdout) as Json).kernels.map((k) => k.label)).toEqual(["host"]);
    const unknown = await run(["check", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown gadget "nope"/);
  });
});
