/**
 * Engine benchmark (issue 4), all figures measured in the same run:
 *  1. gadgetfile load time: esbuild bundle + import (cold), and from the cached bundle (no esbuild);
 *  2. no-op `gadget run build` over 10 gadgets vs bare `node -e 0` (median of N, interleaved);
 *  3. watch: edit → new digest line latency, minus the tools' own time for that rebuild (the
 *     same clang + llvm-strip argv for both archs, run the way the engine runs them);
 *  4. cold build of 10 gadgets with --jobs 2 vs the same clang/strip argv run sequentially.
 * Prints figures and ratios; asserts only that things worked, never timing.
 */
import { it, expect } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN, REPO_ROOT, tempDir } from "../helpers/cli.js";
import { writeCoreRepo } from "./core-gadget.js";
import { alternate, infoRow, loadLine, ratioRow, RUNS, runProcess, valueRow } from "./report.js";

const N = Number(process.env.BENCH_ENGINE_RUNS ?? 7);
const GADGETS = 10;

function program(i: number): string {
  return `// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define COUNTER_MAX ${100 + i}
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_openat")
int count_${i}(void *ctx)
{
	__u32 key = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);
	if (v && *v < COUNTER_MAX) __sync_fetch_and_add(v, 1);
	else if (!v) bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;
}

async function makeRepo(dir: string, count = GADGETS): Promise<void> {
  for (let i = 0; i < count; i++) {
    const g = join(dir, "gadgets", `g${String(i).padStart(2, "0")}`);
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "program.bpf.c"), program(i));
    await writeFile(join(g, "gadget.yaml"), `name: g${i}\ndescription: bench gadget ${i}\n`);
  }
  await writeFile(join(dir, "gadgetfile.ts"), `import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], defaults: { tag: "bench/{name}:dev" }, tasks: { compile: { steps: ["clang", "strip", "wasm"] } } });\n`);
}

function time(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { ms: number; code: number | null; stdout: string; stderr: string } {
  const t0 = performance.now();
  const r = spawnSync(file, args, { cwd, env, encoding: "utf8" });
  return { ms: performance.now() - t0, code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f = (ms: number) => `${ms.toFixed(0)} ms`;

it("engine: config load, no-op run, watch latency, cold build parallelism", async () => {
  const { dir, cleanup } = await tempDir("gadget-bench-engine-");
  try {
    const repo = join(dir, "repo");
    const store = join(dir, "store");
    await makeRepo(repo);
    const env = { ...process.env, SOURCE_DATE_EPOCH: "1700000000" };
    const multiarch = execFileSync("gcc", ["-print-multiarch"], { encoding: "utf8" }).trim();
    const { clangArgs } = (await import(join(REPO_ROOT, "dist", "plugins", "clang.js"))) as typeof import("../../plugins/clang.js");

    // ---- 4. cold build, --jobs 2, vs the same argv sequentially (interleaved, median of 3) ----
    const seqDir = join(dir, "seq");
    await mkdir(seqDir);
    const coldGadget: number[] = [];
    const coldSeq: number[] = [];
    for (let round = 0; round < 3; round++) {
      await rm(join(repo, ".gadget"), { recursive: true, force: true });
      await rm(store, { recursive: true, force: true });
      const r = time(process.execPath, [GADGET_BIN, "run", "--jobs", "2", "--oci-store", store], repo, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toHaveLength(GADGETS);
      coldGadget.push(r.ms);
      const t0 = performance.now();
      for (let i = 0; i < GADGETS; i++) {
        const gdir = join(repo, "gadgets", `g${String(i).padStart(2, "0")}`);
        for (const arch of ["amd64", "arm64"] as const) {
          const out = join(seqDir, `${i}-${arch}.o`);
          execFileSync("clang", clangArgs({ multiarch, arch, source: "program.bpf.c", out, gadgetDir: gdir, cflags: [], depfile: join(seqDir, `${i}-${arch}.d`) }), { cwd: gdir });
          execFileSync("llvm-strip", ["-g", out, "-o", join(seqDir, `${i}-${arch}.s.o`)]);
        }
      }
      coldSeq.push(performance.now() - t0);
    }

    // ---- 4b. the same with 10 realistic CO-RE gadgets (amd64: this machine's vmlinux.h is x86) ----
    const coreRepo = join(dir, "core-repo");
    await writeCoreRepo(coreRepo, GADGETS, "core");
    const t2 = performance.now();
    for (let i = 0; i < GADGETS; i++) {
      const gdir = join(coreRepo, "gadgets", `c${String(i).padStart(2, "0")}`);
      const out = join(seqDir, `core-${i}.o`);
      execFileSync("clang", clangArgs({ multiarch, arch: "amd64", source: "program.bpf.c", out, gadgetDir: gdir, cflags: [], depfile: join(seqDir, `core-${i}.d`) }), { cwd: gdir });
      execFileSync("llvm-strip", ["-g", out, "-o", join(seqDir, `core-${i}.s.o`)]);
    }
    const coreSeq = performance.now() - t2;
    const coreRun = time(process.execPath, [GADGET_BIN, "run", "--jobs", "2", "--oci-store", join(dir, "core-store")], coreRepo, env);
    expect(coreRun.code, coreRun.stderr).toBe(0);

    // ---- 2. no-op run over 10 and over 100 gadgets vs node -e 0 (whole processes, alternating) ----
    const repo100 = join(dir, "repo100");
    const store100 = join(dir, "store100");
    await makeRepo(repo100, 100);
    const noopCompile: number[] = [];
    expect(time(process.execPath, [GADGET_BIN, "run", "compile", "--oci-store", store], repo, env).code).toBe(0);
    // the 100-gadget cold build, as a whole process: how busy it keeps the cores
    const cold100 = await runProcess(process.execPath, [GADGET_BIN, "run", "--oci-store", store100], { cwd: repo100, env });
    expect(cold100.code, cold100.stderr).toBe(0);
    // one more run each: the first no-op after a build is the one that records the state
    for (const [r, st] of [[repo, store], [repo100, store100]] as const) expect(time(process.execPath, [GADGET_BIN, "run", "--oci-store", st], r, env).code).toBe(0);
    const noopRun = async (cwd: string, st: string) => {
      const r = await runProcess(process.execPath, [GADGET_BIN, "run", "--oci-store", st], { cwd, env });
      if (r.code !== 0) throw new Error(r.stderr);
      return r.ms;
    };
    const noops = await alternate(Math.max(RUNS, N), {
      noop10: () => noopRun(repo, store),
      noop100: () => noopRun(repo100, store100),
      node: async () => (await runProcess(process.execPath, ["-e", "0"])).ms,
    });
    for (let i = 0; i < 3; i++) {
      const c = time(process.execPath, [GADGET_BIN, "run", "--explain", "--oci-store", store], repo, env);
      expect(c.code, c.stderr).toBe(0);
      noopCompile.push(c.ms);
    }
    const explain = time(process.execPath, [GADGET_BIN, "run", "--explain", "--oci-store", store], repo, env);
    const misses = explain.stderr.split("\n").filter((l) => /: miss: /.test(l) && !l.includes("not cacheable"));
    expect(misses).toEqual([]);

    // ---- 1. config load: cold esbuild bundle vs cached bundle, in fresh processes ----
    const loadScript = (cache: boolean) =>
      `const t0 = performance.now(); const { loadGadgetfile } = await import(${JSON.stringify(join(REPO_ROOT, "dist", "core", "gadgetfile", "load.js"))}); const g = await loadGadgetfile("gadgetfile.ts", { cache: ${cache} }); process.stdout.write(JSON.stringify({ ms: performance.now() - t0, bundled: g.bundled }));`;
    const coldLoad: number[] = [];
    const warmLoad: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", loadScript(false)], { cwd: repo, encoding: "utf8" })) as { ms: number; bundled: boolean };
      const w = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", loadScript(true)], { cwd: repo, encoding: "utf8" })) as { ms: number; bundled: boolean };
      expect(c.bundled).toBe(true);
      expect(w.bundled).toBe(false);
      coldLoad.push(c.ms);
      warmLoad.push(w.ms);
    }

    // ---- 3. watch: edit → new digest, minus the tools' own time ----
    const child = spawn(process.execPath, [GADGET_BIN, "run", "--watch", "--oci-store", store], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    // Event-driven (no polling loop competing for the 2 cores with the watcher being measured).
    const waitFor = (pred: () => boolean, what: string) =>
      new Promise<void>((resolve, reject) => {
        if (pred()) return resolve();
        const timer = setTimeout(() => reject(new Error(`timeout: ${what}\n${out}\n${err}`)), 30_000);
        const check = () => {
          if (!pred()) return;
          clearTimeout(timer);
          child.stdout.off("data", check);
          child.stderr.off("data", check);
          resolve();
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
      });
    await waitFor(() => err.includes("watching"), "watch ready");
    const src = join(repo, "gadgets", "g03", "program.bpf.c");
    const gdir = join(repo, "gadgets", "g03");
    const base = await readFile(src, "utf8");
    const latency: number[] = [];
    const tools: number[] = [];
    for (let i = 0; i < 5; i++) {
      const mark = out.length;
      const text = base.replace("#define COUNTER_MAX 103", `#define COUNTER_MAX ${1000 + i}`);
      const t0 = performance.now();
      await writeFile(src, text);
      await waitFor(() => /✓ g03 \d+ ms sha256:/.test(out.slice(mark)), "rebuild line");
      latency.push(performance.now() - t0);
      // the tools' own time for the same rebuild: clang for both archs at once, then strip for both
      const t1 = performance.now();
      const run = (file: string, args: string[]) => new Promise<void>((res, rej) => spawn(file, args, { cwd: gdir, stdio: "ignore" }).on("exit", (c) => (c === 0 ? res() : rej(new Error(`${file} ${c}`)))));
      await Promise.all((["amd64", "arm64"] as const).map((arch) => run("clang", clangArgs({ multiarch, arch, source: "program.bpf.c", out: join(seqDir, `w-${arch}.o`), gadgetDir: gdir, cflags: [], depfile: join(seqDir, `w-${arch}.d`) }))));
      await Promise.all((["amd64", "arm64"] as const).map((arch) => run("llvm-strip", ["-g", join(seqDir, `w-${arch}.o`), "-o", join(seqDir, `w-${arch}.s.o`)])));
      tools.push(performance.now() - t1);
      await new Promise((r) => setTimeout(r, 150));
    }
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(0);

    const overhead = latency.map((l, i) => l - tools[i]!);
    console.log("\nengine benchmark (whole `gadget` processes; same run; medians)");
    ratioRow(`no-op \`gadget run\`, ${GADGETS} gadgets, vs node -e 0`, noops.noop10.median, "node -e 0", noops.node.median, { max: 2 });
    valueRow(`no-op \`gadget run\`, ${GADGETS} gadgets`, noops.noop10.median, "ms", { max: 150 });
    ratioRow("no-op `gadget run`, 100 gadgets, vs the no-op over 10", noops.noop100.median, "no-op over 10", noops.noop10.median, { max: 2 });
    valueRow("cold build of 100 gadgets, cores busy ((user+sys)/wall)", cold100.cpuMs / cold100.ms, "cores", { min: 1.8 }, `${f(cold100.ms)} wall, ${f(cold100.cpuMs)} CPU`);
    valueRow("watch: edit → new digest, minus the tools' own time", median(overhead), "ms", { max: 100 }, `edit → digest ${f(median(latency))}, tools ${f(median(tools))}`);
    ratioRow(`cold build, ${GADGETS} tiny gadgets, --jobs 2, vs the same clang/strip argv in sequence`, median(coldGadget), "argv in sequence", median(coldSeq), { max: 0.6 }, "tiny programs: Node start-up and packing weigh");
    ratioRow(`cold build, ${GADGETS} CO-RE gadgets (vmlinux.h), --jobs 2, vs the same argv in sequence`, coreRun.ms, "argv in sequence", coreSeq, { max: 0.6 });
    infoRow("no-op `gadget run --explain` (the full engine path, every step a cache hit; --explain skips the fast path)", f(median(noopCompile)));
    infoRow("gadgetfile load (in-process figure): cold esbuild bundle + import / cached bundle", `${f(median(coldLoad))} / ${f(median(warmLoad))}`);
    console.log(loadLine());
  } finally {
    await cleanup();
  }
});

/**
 * 5. `gadget run --watch --exec` (issue 21): time from a save to the new instance running — the
 * whole `gadget` process: the watcher, the rebuild, stopping the old instance (SIGINT to its
 * group) and starting the new one. The instance is `sh -c 'date +%s%N >> log; exec sleep …'`, so
 * "started" is the moment its first command ran. Compared with clang's own time for the same
 * rebuild (both archs at once, the engine's argv); llvm-strip's time is printed alongside.
 */
it("engine: watch --exec, save → new instance started", async () => {
  const { dir, cleanup } = await tempDir("gadget-bench-exec-");
  try {
    const repo = join(dir, "repo");
    const store = join(dir, "store");
    const scratch = join(dir, "scratch");
    await makeRepo(repo);
    await mkdir(scratch);
    const log = join(dir, "starts.log");
    const multiarch = execFileSync("gcc", ["-print-multiarch"], { encoding: "utf8" }).trim();
    const { clangArgs } = (await import(join(REPO_ROOT, "dist", "plugins", "clang.js"))) as typeof import("../../plugins/clang.js");
    const env = { ...process.env, SOURCE_DATE_EPOCH: "1700000000" };
    const child = spawn(process.execPath, [GADGET_BIN, "run", "--watch", "--only", "g03", "--oci-store", store, "--exec", `sh -c 'date +%s%N >> ${log}; exec sleep 600'`], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const startsLogged = async () => (await readFile(log, "utf8").catch(() => "")).split("\n").filter(Boolean).map((l) => Number(l) / 1e6);
    const waitStarts = async (n: number) => {
      const t0 = Date.now();
      for (;;) {
        const s = await startsLogged();
        if (s.length >= n) return s;
        if (Date.now() - t0 > 30_000) throw new Error(`timeout waiting for start ${n}\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await waitStarts(1);
    const src = join(repo, "gadgets", "g03", "program.bpf.c");
    const gdir = join(repo, "gadgets", "g03");
    const base = await readFile(src, "utf8");
    const latency: number[] = [];
    const clang: number[] = [];
    const strip: number[] = [];
    const run = (file: string, args: string[]) => new Promise<void>((res, rej) => spawn(file, args, { cwd: gdir, stdio: "ignore" }).on("exit", (c) => (c === 0 ? res() : rej(new Error(`${file} ${c}`)))));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.timeOrigin + performance.now();
      await writeFile(src, base.replace("#define COUNTER_MAX 103", `#define COUNTER_MAX ${2000 + i}`));
      const s = await waitStarts(i + 2);
      latency.push(s[i + 1]! - t0);
      const t1 = performance.now();
      await Promise.all((["amd64", "arm64"] as const).map((arch) => run("clang", clangArgs({ multiarch, arch, source: "program.bpf.c", out: join(scratch, `x-${arch}.o`), gadgetDir: gdir, cflags: [], depfile: join(scratch, `x-${arch}.d`) }))));
      clang.push(performance.now() - t1);
      const t2 = performance.now();
      await Promise.all((["amd64", "arm64"] as const).map((arch) => run("llvm-strip", ["-g", join(scratch, `x-${arch}.o`), "-o", join(scratch, `x-${arch}.s.o`)])));
      strip.push(performance.now() - t2);
    }
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code, err).toBe(0);
    expect(err.match(/^\[g03\] started /gm)).toHaveLength(6);
    const overhead = latency.map((l, i) => l - clang[i]!);
    process.stdout.write(
      [
        "",
        "watch --exec (same run; medians of 5)",
        `  save → new instance started:              ${f(median(latency))}`,
        `  clang's own time (clang ×2 ∥):             ${f(median(clang))}`,
        `  overhead over clang:                       ${f(median(overhead))}   (target ≤ 150 ms; includes llvm-strip, packing, tagging, stopping the old instance)`,
        `  llvm-strip ×2 ∥ (part of the overhead):    ${f(median(strip))}`,
        `  load average: ${(await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ")}`,
        "",
      ].join("\n") + "\n",
    );
  } finally {
    await cleanup();
  }
});
