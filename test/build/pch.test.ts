/**
 * Precompiled headers (issue 22, plugins/clang-pch.ts): real clang, real llvm-strip. The clang
 * stage's PCH path gives the same stripped object as the plain argv for every fixture gadget and
 * both archs; a vmlinux.h gadget gets a PCH in "auto" mode that the next gadget reuses; a corrupt
 * PCH falls back to the plain compile and is made again; relative -I paths get no PCH; a real
 * source error is reported once, with the plain compile's message.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, readdir, utimes, writeFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { clangStage, clangArgs } from "../../plugins/clang.js";
import { makePch, pchArgs, pchPrefix, pchWorthIt, planPch, type PchPlan } from "../../plugins/clang-pch.js";
import { rememberedMultiarch } from "../../plugins/clang-identity.js";
import { exec } from "../../core/engine/exec.js";
import { runGraph } from "../../core/engine/run-graph.js";
import { defineStage, type Arch, type GadgetInfo, type ProcessOutput } from "../../core/types.js";
import { FIXTURE_GADGETS, FIXTURE_INCLUDE } from "../helpers/bpf-fixtures.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { requireTools } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
let vmlinuxDir: string;

beforeAll(async () => {
  requireTools("clang", "llvm-strip", "bpftool");
  ({ dir: root, cleanup } = await tempDir("gadget-pch-"));
  // a real vmlinux.h on an include path, as ig's /usr/include/gadget/<arch>/vmlinux.h
  vmlinuxDir = join(root, "vmlinux");
  await mkdir(vmlinuxDir);
  const bpftool = existsSync("/usr/sbin/bpftool") ? "/usr/sbin/bpftool" : "bpftool";
  await writeFile(join(vmlinuxDir, "vmlinux.h"), execFileSync(bpftool, ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"], { maxBuffer: 1 << 30 }));
});
afterAll(() => cleanup?.());

interface Compiled {
  stripped: Buffer;
  log: string[];
  execs: string[][];
  discovered: string[];
}

let seq = 0;
function gadgetAt(dir: string, cflags: string[]): GadgetInfo {
  return { name: dir.split("/").pop()!, dir, ebpfSource: join(dir, "program.bpf.c"), metadata: join(dir, "gadget.yaml"), cflags, archs: ["amd64", "arm64"], settings: {} };
}

/** Run the real clang stage for one gadget and arch, then `llvm-strip -g` as the build does. */
async function compile(gadget: GadgetInfo, arch: Arch, pch: "auto" | "always" | "never", cacheDir: string, runGadgets: GadgetInfo[] = [gadget]): Promise<Compiled> {
  const outDir = join(root, "out", String(seq++));
  await mkdir(outDir, { recursive: true });
  const log: string[] = [];
  const execs: string[][] = [];
  const ctx: any = {
    options: { pch },
    gadget,
    arch,
    cwd: gadget.dir,
    projectRoot: gadget.dir,
    env: process.env,
    logger: { info: (m: string) => log.push(m), warn: (m: string) => log.push(m), debug: (m: string) => log.push(m), diagnostics: (m: string) => log.push(m) },
    signal: new AbortController().signal,
    outDir,
    cacheDir,
    state: clangStage.setup!({ gadgets: runGadgets, projectRoot: gadget.dir, env: process.env, logger: console, signal: new AbortController().signal }),
    exec: (file: string, args: string[], o: object): Promise<ProcessOutput> => {
      execs.push(args);
      return exec(file, args, { cwd: gadget.dir, ...o });
    },
  };
  const res = (await clangStage.run!(ctx))!;
  const obj = res.artifacts!.object!;
  execFileSync("llvm-strip", ["-g", obj]);
  return { stripped: await readFile(obj), log, execs, discovered: [...(res.discoveredInputs ?? [])].sort() };
}

const pchFiles = async (dir: string) => (existsSync(dir) ? (await readdir(dir)).filter((n) => n.endsWith(".pch")).sort() : []);
const usedPch = (c: Compiled) => c.execs.some((a) => a.includes("-include-pch"));
const builtPch = (c: Compiled) => c.execs.filter((a) => a.includes("c-header")).length;

const FIXTURES = readdirSync(FIXTURE_GADGETS).filter((n) => existsSync(join(FIXTURE_GADGETS, n, "program.bpf.c")));

describe("PCH path vs plain argv: byte-identical stripped objects", () => {
  it("finds the fixture gadgets", () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(10);
  });

  for (const arch of ["amd64", "arm64"] as const) {
    it(`every fixture gadget, ${arch}`, async () => {
      const cacheDir = join(root, "fixture-pch");
      for (const name of FIXTURES) {
        // absolute -I: the stand-in ig headers (build.yaml's relative path would get no PCH)
        const g = gadgetAt(join(FIXTURE_GADGETS, name), ["-I", FIXTURE_INCLUDE]);
        const plain = await compile(g, arch, "never", cacheDir);
        const viaPch = await compile(g, arch, "always", cacheDir);
        expect(usedPch(plain), name).toBe(false);
        expect(usedPch(viaPch), `${name}: ${viaPch.log.join("\n")}`).toBe(true);
        expect(viaPch.log.join("\n"), name).not.toMatch(/failed/);
        expect(Buffer.compare(viaPch.stripped, plain.stripped), `${name} ${arch}: stripped objects differ`).toBe(0);
        // the depfile names the real headers, never the PCH's files: the next cache key is the same
        expect(viaPch.discovered, name).toEqual(plain.discovered);
        expect(viaPch.discovered.some((d) => d.startsWith(cacheDir))).toBe(false);
      }
      expect((await pchFiles(cacheDir)).length).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe("vmlinux.h gadgets", () => {
  const source = (id: number, body = "") => `// SPDX-License-Identifier: GPL-2.0
/* a CO-RE gadget */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

const volatile __u32 targ_uid = ${id};
${body}
SEC("tracepoint/sched/sched_process_exec")
int on_exec_${id}(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (targ_uid && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return 0;
	bpf_printk("%d", BPF_CORE_READ(task, real_parent, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;
  async function gadget(name: string, src: string, cflags?: string[]): Promise<GadgetInfo> {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "program.bpf.c"), src);
    return gadgetAt(dir, cflags ?? ["-I", vmlinuxDir]);
  }

  it("auto mode makes a PCH once; the next gadget reuses it; objects match the plain argv on both archs", async () => {
    const cacheDir = join(root, "core-pch");
    const a = await gadget("core_a", source(1));
    const b = await gadget("core_b", source(2, "static int unused_fn(void) { return 0; }\n"));
    // one run of both gadgets: two compiles share the PCH, so "auto" makes it at once
    const first = await compile(a, "amd64", "auto", cacheDir, [a, b]);
    expect(builtPch(first)).toBe(1);
    expect(usedPch(first)).toBe(true);
    const made = await pchFiles(cacheDir);
    expect(made).toHaveLength(1);
    const second = await compile(b, "amd64", "auto", cacheDir, [a, b]);
    expect(builtPch(second)).toBe(0);
    expect(second.execs.find((x) => x.includes("-include-pch"))).toContain(join(cacheDir, made[0]!));
    expect(await pchFiles(cacheDir)).toEqual(made);
    for (const [g, c] of [[a, first], [b, second]] as const) {
      const plain = await compile(g, "amd64", "never", cacheDir);
      expect(Buffer.compare(c.stripped, plain.stripped)).toBe(0);
      expect(c.discovered).toEqual(plain.discovered);
      expect(c.discovered).toContain(join(vmlinuxDir, "vmlinux.h"));
      // clang's warnings about the source are the plain compile's, word for word
      const warnings = (x: Compiled) => x.log.filter((l) => /warning:/.test(l));
      expect(warnings(c)).toEqual(warnings(plain));
    }
    expect(second.log.join("\n")).toMatch(/warning: unused function 'unused_fn'/);
    // arm64: a PCH of its own (per arch), same bytes as the plain argv
    const arm = await compile(a, "arm64", "auto", cacheDir, [a, b]);
    expect(builtPch(arm)).toBe(1);
    expect(await pchFiles(cacheDir)).toHaveLength(2);
    expect(Buffer.compare(arm.stripped, (await compile(a, "arm64", "never", cacheDir)).stripped)).toBe(0);
  }, 60_000);

  it("auto, a gadget alone in its run: the first build compiles plainly, the next one makes the PCH", async () => {
    const cacheDir = join(root, "alone-pch");
    const g = await gadget("core_alone", source(10));
    const first = await compile(g, "amd64", "auto", cacheDir);
    expect(builtPch(first)).toBe(0);
    expect(usedPch(first)).toBe(false);
    expect((await readdir(cacheDir)).filter((n) => n.endsWith(".wanted"))).toHaveLength(1);
    const second = await compile(g, "amd64", "auto", cacheDir);
    expect(builtPch(second)).toBe(1);
    expect(usedPch(second)).toBe(true);
    const third = await compile(g, "amd64", "auto", cacheDir);
    expect(builtPch(third)).toBe(0);
    expect(usedPch(third)).toBe(true);
    expect(Buffer.compare(second.stripped, first.stripped)).toBe(0);
    expect(Buffer.compare(third.stripped, first.stripped)).toBe(0);
  }, 60_000);

  it('a quoted "vmlinux.h" next to the source: a PCH, the same object as the plain argv', async () => {
    const cacheDir = join(root, "quoted-pch");
    const g = await gadget("core_quoted", source(7).replace("#include <vmlinux.h>", '#include "vmlinux.h"'), []);
    await writeFile(join(g.dir, "vmlinux.h"), await readFile(join(vmlinuxDir, "vmlinux.h")));
    const viaPch = await compile(g, "amd64", "always", cacheDir);
    expect(usedPch(viaPch)).toBe(true);
    const plain = await compile(g, "amd64", "never", cacheDir);
    expect(Buffer.compare(viaPch.stripped, plain.stripped)).toBe(0);
    expect(viaPch.discovered).toEqual(plain.discovered);
    expect(viaPch.discovered).toContain(join(g.dir, "vmlinux.h"));
  }, 60_000);

  it("a header touched but unchanged: the PCH still works (checked by content, not mtime)", async () => {
    const cacheDir = join(root, "touch-pch");
    const inc = join(root, "touch-inc");
    await mkdir(inc, { recursive: true });
    await writeFile(join(inc, "vmlinux.h"), await readFile(join(vmlinuxDir, "vmlinux.h")));
    const g = await gadget("core_touch", source(13), ["-I", inc]);
    const first = await compile(g, "amd64", "always", cacheDir);
    expect(usedPch(first)).toBe(true);
    const later = new Date(Date.now() + 5000);
    await utimes(join(inc, "vmlinux.h"), later, later);
    const second = await compile(g, "amd64", "always", cacheDir);
    expect(usedPch(second)).toBe(true);
    expect(builtPch(second)).toBe(0);
    expect(second.log.join("\n")).not.toMatch(/failed|dropped/);
    expect(Buffer.compare(second.stripped, first.stripped)).toBe(0);
  }, 60_000);

  it("a corrupt PCH: the plain compile's object, the PCH dropped and made again next time", async () => {
    const cacheDir = join(root, "corrupt-pch");
    const g = await gadget("core_c", source(3));
    const good = await compile(g, "amd64", "always", cacheDir);
    const [name] = await pchFiles(cacheDir);
    await writeFile(join(cacheDir, name!), "not a precompiled header\n");
    const fell = await compile(g, "amd64", "auto", cacheDir);
    expect(usedPch(fell)).toBe(true); // it tried the PCH…
    expect(fell.execs.filter((x) => x.includes("-c") && !x.includes("-include-pch"))).toHaveLength(1); // …then compiled plainly
    expect(Buffer.compare(fell.stripped, good.stripped)).toBe(0);
    expect(fell.log.join("\n")).toMatch(/dropped/);
    expect(await pchFiles(cacheDir)).toEqual([]);
    const again = await compile(g, "amd64", "auto", cacheDir);
    expect(builtPch(again)).toBe(1);
    expect(await pchFiles(cacheDir)).toEqual([name]);
    expect(Buffer.compare(again.stripped, good.stripped)).toBe(0);
  }, 60_000);

  it("two workers making the same PCH at once (as two processes would): both get a working PCH, one file", async () => {
    const cacheDir = join(root, "race-pch");
    const g = await gadget("core_race", source(8));
    const args = clangArgs({ multiarch: execFileSync("clang", ["-print-multiarch"]).toString().trim(), arch: "amd64", source: "program.bpf.c", out: join(root, "race.o"), gadgetDir: g.dir, cflags: g.cflags, depfile: join(root, "race.d") });
    const clang = execFileSync("sh", ["-c", "command -v clang"]).toString().trim();
    const req = { dir: cacheDir, clang, arch: "amd64", compileArgs: args, source: await readFile(g.ebpfSource, "utf8"), sourcePath: g.ebpfSource, mode: "auto" as const };
    const [p1, p2] = await Promise.all([planPch(req), planPch(req)]);
    const runClang = (a: string[]) => exec(clang, a, { cwd: g.dir, nothrow: true });
    const made = await Promise.all([makePch(p1 as PchPlan, runClang), makePch(p2 as PchPlan, runClang)]);
    expect(made.map((m) => ("pch" in m ? m.pch : m.reason))).toEqual([(made[0] as { pch: string }).pch, (made[0] as { pch: string }).pch]);
    expect(await pchFiles(cacheDir)).toHaveLength(1);
    expect((await readdir(cacheDir)).filter((n) => n.includes(".tmp-"))).toEqual([]);
    const c = await compile(g, "amd64", "auto", cacheDir);
    expect(builtPch(c)).toBe(0);
    expect(usedPch(c)).toBe(true);
    expect(c.log.join("\n")).not.toMatch(/dropped|failed/);
  }, 60_000);

  it("a PCH build that prints a warning: not used (the plain compile shows it), not tried again until the header changes", async () => {
    const cacheDir = join(root, "warn-pch");
    const inc = join(root, "warn-inc");
    await mkdir(inc, { recursive: true });
    await writeFile(join(inc, "noisy.h"), '#ifndef NOISY_H\n#define NOISY_H\n#warning "noisy header"\n#endif\n');
    const g = await gadget("core_noisy", source(9).replace("#include <vmlinux.h>", "#include <vmlinux.h>\n#include <noisy.h>"), ["-I", vmlinuxDir, "-I", inc]);
    const first = await compile(g, "amd64", "always", cacheDir);
    expect(builtPch(first)).toBe(1);
    expect(usedPch(first)).toBe(false);
    expect(first.log.filter((l) => /warning: "noisy header"/.test(l))).toHaveLength(1);
    expect((await readdir(cacheDir)).filter((n) => n.endsWith(".nopch"))).toHaveLength(1);
    const second = await compile(g, "amd64", "always", cacheDir);
    expect(builtPch(second)).toBe(0);
    expect(usedPch(second)).toBe(false);
    expect(Buffer.compare(second.stripped, first.stripped)).toBe(0);
    // the header is fixed: the PCH is tried again (and works)
    await writeFile(join(inc, "noisy.h"), "#ifndef NOISY_H\n#define NOISY_H\n#endif\n");
    const third = await compile(g, "amd64", "always", cacheDir);
    expect(builtPch(third)).toBe(1);
    expect(usedPch(third)).toBe(true);
    expect(Buffer.compare(third.stripped, (await compile(g, "amd64", "never", cacheDir)).stripped)).toBe(0);
  }, 60_000);

  it("a relative -I path: no PCH, even with pch: always", async () => {
    const cacheDir = join(root, "relative-pch");
    const g = await gadget("core_rel", source(4), ["-I", "../vmlinux"]);
    const c = await compile(g, "amd64", "always", cacheDir);
    expect(usedPch(c)).toBe(false);
    expect(builtPch(c)).toBe(0);
    expect(c.log.join("\n")).toMatch(/no precompiled header: .*relative -I/);
    expect(await pchFiles(cacheDir)).toEqual([]);
  }, 60_000);

  it("a real source error is clang's plain error, reported once; the PCH stays", async () => {
    const cacheDir = join(root, "error-pch");
    await compile(await gadget("core_ok", source(5)), "amd64", "always", cacheDir);
    const made = await pchFiles(cacheDir);
    expect(made).toHaveLength(1);
    const bad = await gadget("core_bad", source(6, "int broken = undeclared_thing;\n"));
    const err = await compile(bad, "amd64", "auto", cacheDir).then(
      () => undefined,
      (e: unknown) => e as Error & { stderr?: string },
    );
    expect(err).toBeDefined();
    const text = `${err!.message}\n${err!.stderr ?? ""}`;
    expect(text).toMatch(/use of undeclared identifier 'undeclared_thing'/);
    expect(err!.stderr!.match(/error: use of undeclared identifier/g)).toHaveLength(1);
    expect(err!.stderr).not.toMatch(/precompiled|\.pch/);
    expect(await pchFiles(cacheDir)).toEqual(made);
    expect((await readdir(cacheDir)).some((n) => n.endsWith(".nopch"))).toBe(false);
    // no PCH yet ("auto", alone in its run: plain compile): the same error
    const fresh = await compile(bad, "amd64", "auto", join(root, "error-pch-fresh")).then(
      () => undefined,
      (e: unknown) => e as Error & { stderr?: string },
    );
    expect(fresh?.stderr?.match(/error: use of undeclared identifier/g)).toHaveLength(1);
  }, 60_000);
});

describe("gadget run: the PCH changes no key and no byte", () => {
  it("same image digests with and without a PCH; a missing or damaged PCH is still all hits", async () => {
    const project = join(root, "run-project");
    for (const [name, id] of [["core_x", 11], ["core_y", 12]] as const) {
      await mkdir(join(project, "gadgets", name), { recursive: true });
      await writeFile(join(project, "gadgets", name, "program.bpf.c"), `// SPDX-License-Identifier: GPL-2.0
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

const volatile __u32 targ = ${id};

SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	bpf_printk("%d %d", targ, BPF_CORE_READ(task, real_parent, tgid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`);
    }
    const steps = (pch: string) => JSON.stringify([{ stage: "clang", options: { pch } }, "strip", "oci-pack", "store-tag"]);
    await writeFile(
      join(project, "gadgetfile.ts"),
      `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { tag: "pch-test/{name}:dev", archs: ["amd64"], cflags: ["-I", ${JSON.stringify(vmlinuxDir)}] },
  tasks: { withpch: { steps: ${steps("auto")} }, plain: { steps: ${steps("never")} } },
});
`,
    );
    const store = join(root, "run-store");
    const run = async (task: string) => {
      const r = await runGadget(["run", task, "--explain", "--oci-store", store], { cwd: project, env: { SOURCE_DATE_EPOCH: "1700000000" } });
      expect(r.code, r.stderr).toBe(0);
      return r;
    };
    const digests = (r: { stdout: string }) => r.stdout.split("\n").filter((l) => l.startsWith("✓")).map((l) => `${l.split(" ")[1]} ${l.match(/sha256:[0-9a-f]{64}/)?.[0]}`).sort();
    const withPch = await run("withpch");
    const pchDir = join(project, ".gadget", "stages", "clang");
    expect(await pchFiles(pchDir)).toHaveLength(1); // "auto", two gadgets share it: made at once
    const plain = await run("plain");
    expect(digests(withPch)).toHaveLength(2);
    expect(digests(plain)).toEqual(digests(withPch));
    // the key does not depend on the PCH: gone or damaged, the next run is all hits
    for (const f of await pchFiles(pchDir)) await writeFile(join(pchDir, f), "damaged\n");
    const again = await run("withpch");
    expect(again.stderr).not.toMatch(/: miss/);
    expect(again.stderr).toMatch(/explain: 6 hits, 0 misses/);
    expect(digests(again)).toEqual(digests(withPch));
  }, 60_000);
});

describe("pure parts", () => {
  it("pchPrefix: the leading system/vmlinux.h includes, stopping at anything else", () => {
    const src = `// SPDX\n/* multi\n line */\n#include "vmlinux.h"\n#include <bpf/bpf_helpers.h> // libbpf\n\n#include <gadget/macros.h>\n#include "local.h"\n#include <bpf/bpf_endian.h>\n`;
    expect(pchPrefix(src).map((p) => p.spelled)).toEqual(['"vmlinux.h"', "<bpf/bpf_helpers.h>", "<gadget/macros.h>"]);
    expect(pchPrefix(`#include <linux/bpf.h>\n#define X 1\n#include <bpf/bpf_helpers.h>\n`).map((p) => p.name)).toEqual(["linux/bpf.h"]);
    expect(pchPrefix(`#ifndef X\n#include <vmlinux.h>\n#endif\n`)).toEqual([]);
    expect(pchPrefix(`int x;\n#include <vmlinux.h>\n`)).toEqual([]);
  });

  it("pchArgs: drops the source, output and depfile; refuses relative paths and flags a PCH cannot carry", () => {
    const args = clangArgs({ multiarch: "x86_64-linux-gnu", arch: "amd64", source: "program.bpf.c", out: "/o/amd64.bpf.o", gadgetDir: "/g", cflags: ["-I", "/abs/inc", "-DFOO=1"], depfile: "/o/amd64.d" });
    expect(pchArgs(args)).toEqual(["-target", "bpf", "-Wall", "-g", "-O2", "-I/usr/include/x86_64-linux-gnu", "-D", "__TARGET_ARCH_x86", "-I", "/usr/include/gadget/amd64/", "-I", "/abs/inc", "-DFOO=1"]);
    for (const bad of [["-I", "../inc"], ["-Iinc"], ["-isystem", "rel"], ["-include", "/abs/x.h"], ["-Xclang", "-foo"], ["-x", "c"], ["extra.c"]]) {
      const a = clangArgs({ multiarch: "x86_64-linux-gnu", arch: "amd64", source: "p.c", out: "/o/x.o", gadgetDir: "/g", cflags: bad, depfile: "/o/x.d" });
      expect(pchArgs(a), bad.join(" ")).toBeUndefined();
    }
  });

  it("pchWorthIt: auto wants vmlinux.h or large headers; never and always are what they say", () => {
    const small = pchPrefix("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n");
    const vml = pchPrefix("#include <vmlinux.h>\n");
    expect(pchWorthIt("auto", small, [200_000, 30_000])).toBe(false);
    expect(pchWorthIt("auto", small, [2_000_000])).toBe(true);
    expect(pchWorthIt("auto", vml, [])).toBe(true);
    expect(pchWorthIt("never", vml, [])).toBe(false);
    expect(pchWorthIt("always", small, [1])).toBe(true);
    expect(pchWorthIt("always", [], [])).toBe(false);
  });
});

describe("clang's multiarch, remembered per clang identity", () => {
  it("asks clang once, then reads the cache folder (no spawn before the compile)", async () => {
    const dir = join(root, "multiarch");
    const clang = execFileSync("sh", ["-c", "command -v clang"]).toString().trim();
    let asked = 0;
    const ask = async () => (asked++, execFileSync(clang, ["-print-multiarch"]).toString().trim());
    const first = await rememberedMultiarch(dir, clang, ask);
    const second = await rememberedMultiarch(dir, clang, ask);
    expect(first).toMatch(/^[a-z0-9_]+-[a-z0-9_-]+$/);
    expect(second).toBe(first);
    expect(asked).toBe(1);
    // a damaged record is asked again
    const [rec] = (await readdir(dir)).filter((n) => n.startsWith("multiarch-"));
    await writeFile(join(dir, rec!), "garbage here\n");
    expect(await rememberedMultiarch(dir, clang, ask)).toBe(first);
    expect(asked).toBe(2);
  });
});

describe("the --jobs queue: compiles before steps that can wait", () => {
  it("a saturated pool starts every gadget's compile before any step that sends an image away", async () => {
    const project = join(root, "prio");
    const gadgets = ["a", "b", "c"].map((n) => ({ ...gadgetAt(join(project, n), []), archs: ["amd64" as Arch] }));
    for (const g of gadgets) await mkdir(g.dir, { recursive: true });
    const order: string[] = [];
    const work = (name: string) => async (ctx: { gadget: GadgetInfo }) => {
      order.push(`${name} ${ctx.gadget.name}`);
      await new Promise((r) => setTimeout(r, 5));
    };
    const compile = defineStage({ name: "compile", version: "1", perArch: true, run: work("compile") });
    const pack = defineStage({ name: "pack", version: "1", run: work("pack") });
    const ship = defineStage({ name: "ship", version: "1", publishTarget: true, cacheable: false, run: work("ship") });
    await runGraph({ gadgets, steps: ["compile", "pack", "ship"], stages: new Map<string, any>([["compile", compile], ["pack", pack], ["ship", ship]]), storeDir: join(root, "store"), projectRoot: project, jobs: 1, cache: false });
    const last = (prefix: string) => Math.max(...order.map((x, i) => (x.startsWith(prefix) ? i : -1)));
    const first = (prefix: string) => order.findIndex((x) => x.startsWith(prefix));
    expect(order).toHaveLength(9);
    expect(last("compile")).toBeLessThan(first("ship"));
  });
});

describe("ctx.cacheDir", () => {
  it("is <cache root>/stages/<stage name>: .gadget/ in the project, or GADGET_CACHE_DIR", async () => {
    const project = join(root, "project");
    const g = join(project, "g");
    await mkdir(g, { recursive: true });
    const seen: string[] = [];
    const probe = defineStage({ name: "@acme/probe", version: "1", run: async (ctx) => void seen.push(ctx.cacheDir) });
    const run = (env: Record<string, string | undefined>) =>
      runGraph({ gadgets: [{ ...gadgetAt(g, []), archs: ["amd64"] }], steps: ["@acme/probe"], stages: new Map([["@acme/probe", probe]]), storeDir: join(root, "store"), projectRoot: project, cache: false, env });
    await run({ PATH: process.env.PATH });
    await run({ PATH: process.env.PATH, GADGET_CACHE_DIR: "ci-cache" });
    expect(seen).toEqual([join(project, ".gadget", "stages", "%40acme%2Fprobe"), join(project, "ci-cache", "stages", "%40acme%2Fprobe")]);
    expect(existsSync(join(project, ".gadget"))).toBe(false); // created by the stage when it needs it
  });
});
