/**
 * checkObjects(): every program of every object into the verifier of each kernel — the host's
 * and others booted in a micro-VM (one boot per kernel for all objects) — with results cached by
 * (object digest, kernel digest, loader digest, params), so an unchanged re-check boots nothing.
 */
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { GadgetError } from "../errors.js";
import { cacheKey, readCached, writeCached } from "./cache.js";
import { untilDone } from "./cleanup.js";
import { missingHostCapability, runBpftoolOnHost, runLoaderOnHost } from "./host.js";
import { identifyKernel } from "./kernel.js";
import { findLoader, loaderMissingError, type LoaderBinary, type LoaderRun } from "./loader.js";
import { bootAndCheck, buildInitramfs, requireTool } from "./vm.js";
import type { CheckObject, CheckOptions, CheckReport, CheckResult, KernelInfo } from "./types.js";

const NO_ARM64_KERNEL = "not checked (no arm64 kernel)";

export function defaultTimeoutMs(objects: number): number {
  return 120_000 + 15_000 * objects;
}

export async function checkObjects(opts: CheckOptions): Promise<CheckReport> {
  const env = opts.env ?? process.env;
  const specs = [...new Set(opts.kernels && opts.kernels.length > 0 ? opts.kernels : ["host"])];
  // Every kernel is identified before anything runs: a bad path is an error, not a half check.
  const kernels: KernelInfo[] = [];
  for (const s of specs) kernels.push(await identifyKernel(s));

  const loader = await findLoader(env);
  if (!loader) {
    if (kernels.some((k) => k.kind === "vm")) throw loaderMissingError();
    requireToolOr(loaderMissingError, () => requireTool("bpftool", "bpftool", env));
  }
  if (kernels.some((k) => k.kind === "vm")) {
    requireTool("qemu-system-x86_64", "qemu-system-x86", env);
    requireTool("cpio", "cpio", env);
  }

  opts.onStart?.(kernels);
  const amd64 = opts.objects.filter((o) => o.arch === "amd64");
  const others = opts.objects.filter((o) => o.arch !== "amd64");
  const perKernel = new Map<KernelInfo, CheckResult[]>();
  const warnings: string[] = [];

  const work = kernels.map((k) => async () => {
    const results: CheckResult[] = [];
    for (const o of others) results.push(notChecked(o, k));
    results.push(...(await checkOnKernel(k, amd64, loader, opts, (w) => warnings.push(`${k.label}: ${w}`))));
    perKernel.set(k, results);
    opts.onKernel?.(k);
    for (const r of results) opts.onResult?.(r);
  });
  await runLimited(work, Math.max(1, availableParallelism()));

  // Results in a stable order: objects as given, then kernels as given.
  const results: CheckResult[] = [];
  for (const o of opts.objects) {
    for (const k of kernels) {
      const r = perKernel.get(k)?.find((x) => x.objectDigest === o.digest && x.object === o.name && x.arch === o.arch);
      if (r) results.push(r);
    }
  }
  const ok = results.every((r) => r.status !== "refused");
  return { ok, kernels, results, warnings };
}

function requireToolOr(err: () => Error, fn: () => unknown): void {
  try {
    fn();
  } catch {
    throw err();
  }
}

function notChecked(o: CheckObject, k: KernelInfo): CheckResult {
  return { object: o.name, arch: o.arch, objectDigest: o.digest, kernel: k.label, kernelDigest: k.digest, status: "not-checked", reason: NO_ARM64_KERNEL, programs: [], cached: false };
}

async function checkOnKernel(k: KernelInfo, objects: CheckObject[], loader: LoaderBinary | undefined, opts: CheckOptions, warn: (w: string) => void): Promise<CheckResult[]> {
  if (objects.length === 0) return [];
  const env = opts.env ?? process.env;
  const byKey = new Map<CheckObject, string>();
  const results = new Map<CheckObject, CheckResult>();
  if (loader && opts.cacheDir) {
    for (const o of objects) {
      const key = cacheKey({ objectDigest: o.digest, kernelDigest: k.digest, loaderDigest: loader.digest, params: o.params });
      byKey.set(o, key);
      const hit = opts.noCache ? undefined : await readCached(opts.cacheDir, key);
      if (hit) results.set(o, { object: o.name, arch: o.arch, objectDigest: o.digest, kernel: k.label, kernelDigest: k.digest, ...hit, cached: true });
    }
  }
  const misses = objects.filter((o) => !results.has(o));
  if (misses.length > 0) {
    if (k.kind === "host") {
      const missing = await missingHostCapability();
      if (missing) {
        k.skipped = missing;
        return objects.filter((o) => results.has(o)).map((o) => results.get(o)!);
      }
    }
    const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs(misses.length);
    const workDir = await mkdtemp(join(tmpdir(), "gadget-check-"));
    const done = untilDone(() => rmSync(workDir, { recursive: true, force: true }));
    let run: LoaderRun;
    try {
      if (k.kind === "host") {
        run = loader ? await runLoaderOnHost(loader, misses, workDir, timeoutMs) : await runBpftoolOnHost(misses, workDir, timeoutMs);
      } else {
        const initramfs = await buildInitramfs(workDir, loader!, misses, env);
        const booted = await bootAndCheck({ kernel: k, initramfs, accel: opts.accel ?? "tcg", timeoutMs, env });
        k.bootMs = booted.bootMs;
        run = booted;
      }
    } finally {
      await rm(workDir, { recursive: true, force: true });
      done();
    }
    if (run.release && k.kind === "host") k.release = run.release;
    for (const w of run.warnings) warn(w);
    if (run.denied !== undefined) {
      if (k.kind !== "host") throw new GadgetError({ what: "the VM could not load programs", which: k.spec, why: run.denied });
      k.skipped = run.denied;
      return objects.filter((o) => results.has(o)).map((o) => results.get(o)!);
    }
    for (const [i, o] of misses.entries()) {
      const got = run.objects.get(String(i));
      const r: CheckResult = {
        object: o.name,
        arch: o.arch,
        objectDigest: o.digest,
        kernel: k.label,
        kernelDigest: k.digest,
        status: got?.loaded ? "loaded" : "refused",
        programs: got?.programs ?? [],
        cached: false,
      };
      if (!got) r.reason = "the loader reported nothing for this object";
      else if (!got.loaded) r.reason = got.reason;
      if (got && got.prepared.length > 0) r.prepared = got.prepared;
      results.set(o, r);
      const key = byKey.get(o);
      if (got && key && opts.cacheDir) await writeCached(opts.cacheDir, key, r);
    }
  }
  return objects.map((o) => results.get(o)!);
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < tasks.length) {
      const t = tasks[next++]!;
      try {
        await t();
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
