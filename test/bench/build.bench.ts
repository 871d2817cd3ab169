/**
 * Build benchmark: cold `gadget image build` (a fresh store, no cache) against what
 * `ig image build --local` runs — ig's exact clang + `llvm-strip -g` argv for amd64, then for
 * arm64, sequentially — on the same gadget, measured in the same run (runs interleaved, median
 * of N). Two gadgets: the largest committed example (tiny: Node start-up dominates) and a
 * realistic CO-RE gadget that includes this machine's vmlinux.h (compile-dominated, like
 * real gadgets). Prints figures and ratios; asserts nothing about timing.
 */
import { it, expect } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { cp, mkdir, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { availableParallelism, loadavg } from "node:os";
import { GADGET_BIN, tempDir } from "../helpers/cli.js";
import { EXAMPLES } from "../build/helpers.js";
import { coreGadgetSource } from "./core-gadget.js";

const N = Number(process.env.BENCH_BUILD_RUNS ?? 5);


function ms(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function run(file: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): void {
  const r = spawnSync(file, args, { cwd, env: env ?? process.env, stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} failed: ${r.stderr}`);
}

/** What `ig image build --local` runs: clang then llvm-strip, amd64 then arm64. */
function igBaseline(dir: string, out: string, extra: string[]): void {
  const triple = execFileSync("gcc", ["-print-multiarch"]).toString().trim();
  for (const [arch, def] of [["amd64", "x86"], ["arm64", "arm64"]] as const) {
    const obj = join(out, `${arch}.bpf.o`);
    run("clang", ["-target", "bpf", "-Wall", "-g", "-O2", `-I/usr/include/${triple}`, "-D", `__TARGET_ARCH_${def}`, "-c", "program.bpf.c", "-I", `/usr/include/gadget/${arch}/`, "-o", obj, ...extra], dir);
    run("llvm-strip", ["-g", obj], dir);
  }
}

async function measure(label: string, dir: string, extra: string[], work: string): Promise<void> {
  const ours: number[] = [];
  const ig: number[] = [];
  // warm the page cache for both (not measured)
  igBaseline(dir, work, extra);
  run(process.execPath, [GADGET_BIN, "image", "build", dir, "--oci-store", join(work, "warm-store")], dir);
  for (let i = 0; i < N; i++) {
    ig.push(ms(() => igBaseline(dir, work, extra)));
    const store = join(work, `store-${i}`);
    ours.push(ms(() => run(process.execPath, [GADGET_BIN, "image", "build", dir, "--oci-store", store], dir)));
    await rm(store, { recursive: true, force: true });
  }
  const o = median(ours);
  const b = median(ig);
  const lo = Math.min(...ours);
  const lb = Math.min(...ig);
  console.log(
    `build bench [${label}]: gadget image build (cold) ${o.toFixed(0)} ms vs ig's clang+llvm-strip amd64 then arm64 ${b.toFixed(0)} ms → ratio ${(o / b).toFixed(2)} ` +
      `(median of ${N}; best-of-${N} ratio ${(lo / lb).toFixed(2)}; runs: gadget ${ours.map((x) => x.toFixed(0)).join("/")}, ig argv ${ig.map((x) => x.toFixed(0)).join("/")}; ` +
      `${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)} — two compiles only overlap when two cores are free)`,
  );
  expect(o).toBeGreaterThan(0);
}

it("cold gadget image build vs ig's sequential clang + llvm-strip", async () => {
  const { dir, cleanup } = await tempDir("gadget-build-bench-");
  try {
    // 1. the largest committed example (trace_exec: ring buffer, params, gadget headers)
    const examples = join(dir, "examples");
    await cp(EXAMPLES, examples, { recursive: true });
    await mkdir(join(dir, "w1"));
    await measure("examples/trace_exec (tiny program: Node start-up dominates)", join(examples, "trace_exec"), ["-I", "../include"], join(dir, "w1"));

    // 2. a realistic CO-RE gadget compiled against this machine's vmlinux.h (~0.5–1.5 s per arch)
    const core = join(dir, "core_exec");
    await mkdir(core);
    await writeFile(join(core, "vmlinux.h"), execFileSync("bpftool", ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"], { maxBuffer: 1 << 30 }));
    await writeFile(join(core, "program.bpf.c"), coreGadgetSource({ vmlinux: "vmlinux.h" }));
    await mkdir(join(dir, "w2"));
    await measure("CO-RE gadget with vmlinux.h (compile-dominated, like real gadgets)", core, [], join(dir, "w2"));
  } finally {
    await cleanup();
  }
});
