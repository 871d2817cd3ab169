/**
 * `gadget image check` and checkObjects() end to end: the real Go loader (cilium/ebpf) on the host
 * kernel and on Debian's 6.1 cloud kernel booted with qemu (TCG), the fixture gadgets built by the
 * real CLI. The VM boots once for all objects; later checks are answered from the cache.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN, REPO_ROOT, runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { checkObjects, LayoutStore, objectsOfImage, type CheckObject, type CheckReport, type CheckResult } from "../../core/index.js";
import { buildFixtures, checkPins, kernel61, LOADER, qemuPidsMentioning, requireCheckTools } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
let store: string;
let cacheDir: string;
let k61: string;
let objects: CheckObject[];
let first: CheckReport;
let pinsBefore: string[];

const env = () => ({ GADGET_OCI_STORE: store, GADGET_CHECK_CACHE: cacheDir });

function result(report: CheckReport, object: string, kernel: "host" | "6.1", arch = "amd64"): CheckResult {
  const r = report.results.find((x) => x.object === object && x.arch === arch && (kernel === "host" ? x.kernel === "host" : x.kernel.startsWith("6.1.")));
  expect(r, `${object} on ${kernel}`).toBeDefined();
  return r!;
}

beforeAll(async () => {
  requireCheckTools();
  k61 = kernel61();
  pinsBefore = await checkPins();
  ({ dir: root, cleanup } = await tempDir("gadget-check-test-"));
  store = join(root, "store");
  cacheDir = join(root, "check-cache");
  await buildFixtures(root, store);
  const s = await LayoutStore.open(store);
  objects = [];
  for (const g of ["good", "kfunc_new", "bad_ptr"]) objects.push(...(await objectsOfImage(s, `check_${g}:test`)));
  // one boot of the 6.1 kernel for the three objects, the host alongside
  first = await checkObjects({ objects, kernels: ["host", k61], cacheDir });
}, 240_000);
afterAll(async () => cleanup?.());

describe("checkObjects: host and a 6.1 kernel in a VM", () => {
  it("a good gadget loads on the host and on 6.1, every program with the verifier's instruction count", () => {
    expect(first.kernels.map((k) => k.kind)).toEqual(["host", "vm"]);
    expect(first.kernels[1]!.label).toMatch(/^6\.1\.\d+-\d+-cloud-amd64$/);
    expect(first.kernels[1]!.bootMs).toBeGreaterThan(0);
    for (const kernel of ["host", "6.1"] as const) {
      const r = result(first, "check_good", kernel);
      expect(r.status).toBe("loaded");
      expect(r.cached).toBe(false);
      expect(r.programs.map((p) => [p.name, p.section, p.progType, p.loaded])).toEqual([
        ["check_good_exec", "tracepoint/syscalls/sys_enter_execve", "TracePoint", true],
        ["check_good_sample", "perf_event/sampler", "PerfEvent", true],
        ["check_good_socket", "socket1", "SocketFilter", true],
        ["check_good_unknown", "check_not_a_program_type/x", "UnspecifiedProgram", false],
      ]);
      for (const p of r.programs.slice(0, 3)) expect(p.insns).toBeGreaterThan(0);
      // what ig skips is skipped, not refused
      expect(r.programs[3]!.skipped).toBe(`section "check_not_a_program_type/x" names no program type cilium/ebpf knows; ig does not load it`);
      // the map declared with max_entries 0, sized from its <map>_max_entries param as ig does
      expect(r.prepared).toEqual(["map seen max_entries=512"]);
    }
  });

  it("a kfunc newer than 6.1 (bpf_rcu_read_lock from tp_btf) loads on the host and is refused on 6.1 with the not-found line", () => {
    const host = result(first, "check_kfunc_new", "host");
    expect(host.status).toBe("loaded");
    expect(host.programs[0]).toMatchObject({ name: "check_rcu_switch", section: "tp_btf/sched_switch", progType: "Tracing", loaded: true });
    const old = result(first, "check_kfunc_new", "6.1");
    expect(old.status).toBe("refused");
    expect(old.reason).toBe(`check_rcu_switch: extern (func ksym) 'bpf_rcu_read_lock': not found in kernel BTF (cilium/ebpf: kfunc "bpf_rcu_read_lock": not supported)`);
    expect(old.programs[0]!.error).toContain(`kfunc "bpf_rcu_read_lock": not supported`);
  });

  it("a scalar used as a pointer is refused on every kernel with the verifier's line and instruction", () => {
    for (const kernel of ["host", "6.1"] as const) {
      const r = result(first, "check_bad_ptr", kernel);
      expect(r.status).toBe("refused");
      expect(r.reason).toBe("check_bad_deref: R0 invalid mem access 'scalar'");
      const log = r.programs[0]!.log!;
      expect(log[log.length - 1]).toBe("R0 invalid mem access 'scalar'");
      expect(log[log.length - 2]).toMatch(/^\d+: \(79\) r\d = \*\(u64 \*\)\(r0 \+0\)$/);
    }
    expect(first.ok).toBe(false);
    expect(first.warnings).toEqual([]);
  });

  it("arm64 objects are reported as not checked, on no kernel loaded", () => {
    const arm = first.results.filter((r) => r.arch === "arm64");
    expect(arm).toHaveLength(6);
    for (const r of arm) expect(r).toMatchObject({ status: "not-checked", reason: "not checked (no arm64 kernel)", programs: [] });
  });

  it("re-checking unchanged objects is answered from the cache: no load, no VM boot", async () => {
    // a 1 ms watchdog: any boot would fail the check
    const again = await checkObjects({ objects, kernels: ["host", k61], cacheDir, timeoutMs: 1 });
    expect(again.kernels[1]!.bootMs).toBeUndefined();
    const checked = again.results.filter((r) => r.status !== "not-checked");
    expect(checked).toHaveLength(6);
    for (const r of checked) expect(r.cached).toBe(true);
    const strip = (x: CheckReport) => x.results.map(({ cached: _c, ...rest }) => rest);
    expect(strip(again)).toEqual(strip(first));
  });
});

describe("gadget image check (CLI)", () => {
  it("prints one line per object × kernel and the program × kernel table; exit 0 when every kernel loads it", async () => {
    const r = await runGadget(["image", "check", "check_good:test", "--kernels", `host,${k61}`], { env: env() });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toContain("- check_good  arm64: not checked (no arm64 kernel)");
    expect(lines.some((l) => /^✓ check_good  host +3 progs  max \d+ insns  \(1 not loaded by ig\)  \(cached\)$/.test(l))).toBe(true);
    expect(lines.some((l) => /^✓ check_good  6\.1\.\d+-\d+-cloud-amd64  3 progs  max \d+ insns  \(1 not loaded by ig\)  \(cached\)$/.test(l))).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^GADGET +ARCH +PROGRAM +host +6\.1\.\d+-\d+-cloud-amd64$/));
    expect(lines).toContainEqual(expect.stringMatching(/^check_good +amd64 +check_good_socket +\d+ +\d+$/));
    expect(lines).toContainEqual(expect.stringMatching(/^check_good +amd64 +check_good_unknown +- +-$/));
  });

  it("exit 1 with the verifier's line and the instruction when a kernel refuses the object", async () => {
    const r = await runGadget(["image", "check", "check_bad_ptr:test", "--kernels", `host,${k61}`], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✗ check_bad_ptr  host +check_bad_deref: R0 invalid mem access 'scalar'  \(cached\)$/m);
    expect(r.stdout).toMatch(/^ {4}check_bad_deref at \d+: \(79\) r\d = \*\(u64 \*\)\(r0 \+0\)/m);
    expect(r.stdout).toMatch(/^check_bad_ptr +amd64 +check_bad_deref +✗ +✗$/m);
  });

  it("--json carries every figure; --baseline flags programs whose instructions grew beyond the threshold", async () => {
    const r = await runGadget(["image", "check", "check_good:test", "--kernels", `host,${k61}`, "--json"], { env: env() });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    const host = doc.results.find((x: CheckResult) => x.kernel === "host" && x.arch === "amd64");
    expect(Object.keys(host.programs[0]).sort()).toEqual(["insns", "loaded", "maxStatesPerInsn", "name", "peakStates", "progType", "section", "totalStates"]);
    expect(doc.kernels[1]).toMatchObject({ kind: "vm", spec: k61, arch: "amd64" });
    expect(doc.kernels[1].digest).toMatch(/^sha256:[a-f0-9]{64}$/);

    const same = join(root, "baseline-same.json");
    await writeFile(same, r.stdout);
    const ok = await runGadget(["image", "check", "check_good:test", "--kernels", `host,${k61}`, "--baseline", same], { env: env() });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`no program grew by more than 10% against ${same}`);

    // a baseline in which check_good_exec needed half the instructions on the host
    const exec = host.programs.find((p: { name: string }) => p.name === "check_good_exec");
    const actual: number = exec.insns;
    const before = Math.floor(actual / 2);
    exec.insns = before;
    const smaller = join(root, "baseline-smaller.json");
    await writeFile(smaller, JSON.stringify(doc));
    const grew = await runGadget(["image", "check", "check_good:test", "--kernels", `host,${k61}`, "--baseline", smaller], { env: env() });
    expect(grew.code).toBe(1);
    const m = new RegExp(`^! check_good/check_good_exec  host  ${before} → (\\d+) insns \\(\\+([\\d.]+)%\\)$`, "m").exec(grew.stdout);
    expect(m, grew.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(actual);
    expect(Number(m![2])).toBeGreaterThan(10);
    expect(grew.stdout).not.toMatch(/^! check_good\/check_good_socket/m);
  });

  it("a kernel path that does not exist and a file that is not a kernel: one-line errors, nothing boots", async () => {
    const missing = await runGadget(["image", "check", "check_good:test", "--kernels", `host,${join(root, "no-such-vmlinuz")}`], { env: env() });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe(`Error: cannot use kernel (${join(root, "no-such-vmlinuz")}): no such file or directory\nhint: give a vmlinuz file (e.g. /boot/vmlinuz-6.1.0-…-cloud-amd64) or host\n`);
    const notKernel = join(REPO_ROOT, "test", "fixtures", "check", "README.md");
    const bad = await runGadget(["image", "check", "check_good:test", "--kernels", notKernel], { env: env() });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`Error: cannot use kernel (${notKernel}): not a Linux x86 kernel image (no bzImage header)\nhint: give a vmlinuz (bzImage) file, e.g. from /boot\n`);
  });

  it("a VM that does not answer in time: one-line error, its qemu killed (checked by pid), temp files and bpffs pins gone", async () => {
    const tmp = join(root, "vm-tmp");
    await mkdir(tmp);
    const seen = new Set<number>();
    const child = spawn(process.execPath, [GADGET_BIN, "image", "check", "check_good:test", "--kernels", k61, "--timeout", "1s", "--no-cache"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env(), TMPDIR: tmp },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    let running = true;
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    const poll = (async () => {
      while (running) {
        for (const pid of await qemuPidsMentioning(tmp)) seen.add(pid);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const code = await exited;
    running = false;
    await poll;
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^Error: the VM did not answer in time \\(${k61.replace(/[.]/g, "\\.")}\\): no answer from kernel 6\\.1\\.\\d+-\\d+-cloud-amd64 within 1 s; qemu was killed\\nhint: raise --timeout \\(a large program verifies slowly under TCG\\)\\n$`));
    expect(seen.size).toBe(1); // the VM was started …
    for (const pid of seen) expect(await qemuPidsMentioning(tmp)).not.toContain(pid); // … and is gone
    expect(await readdir(tmp)).toEqual([]); // initramfs and objects removed
    expect(await checkPins()).toEqual(pinsBefore);
  });

  it("interrupted (SIGINT) while the VM boots: qemu killed (checked by pid) and the temp folder removed", async () => {
    const tmp = join(root, "int-tmp");
    await mkdir(tmp);
    const child = spawn(process.execPath, [GADGET_BIN, "image", "check", "check_good:test", "--kernels", k61, "--no-cache"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env(), TMPDIR: tmp },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    let pids: number[] = [];
    for (let i = 0; i < 400 && pids.length === 0; i++) {
      pids = await qemuPidsMentioning(tmp);
      if (pids.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
    expect(pids).toHaveLength(1);
    child.kill("SIGINT");
    // every command ends an interrupt the same way: exit 130 and one line naming what it was doing
    expect(await exited).toBe(130);
    expect(stderr).toBe("Error: interrupted (gadget image check): received SIGINT\n");
    expect(await qemuPidsMentioning(tmp)).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });

  it("without the Go loader, bpftool prog loadall is the host's fallback: libbpf's verdict, no pins and no bpffs mount left", async () => {
    const mountsBefore = (await readFile("/proc/self/mounts", "utf8")).split("\n").filter((l) => l.includes(" bpf ")).sort();
    const fallbackEnv = { ...env(), GADGET_CHECK_LOADER: "bpftool" };
    const bad = await runGadget(["image", "check", "check_bad_ptr:test"], { env: fallbackEnv });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^✗ check_bad_ptr  host  R0 invalid mem access 'scalar'$/m);
    expect(bad.stderr).toBe("Warning: host: bpftool fallback (run scripts/bootstrap for the Go loader): libbpf's section names only, no verifier figures\n");
    const kfunc = await runGadget(["image", "check", "check_kfunc_new:test"], { env: fallbackEnv });
    expect(kfunc.code).toBe(0);
    expect(kfunc.stdout).toMatch(/^✓ check_kfunc_new  host  loaded \(bpftool fallback: no verifier figures\)$/m);
    // libbpf 1.1 does not know ig's `socket1` section: the reason the Go loader exists
    const good = await runGadget(["image", "check", "check_good:test"], { env: fallbackEnv });
    expect(good.stdout).toMatch(/^✗ check_good  host  libbpf: failed to guess program type from ELF section 'socket1'$/m);
    // no VM without the loader
    const vm = await runGadget(["image", "check", "check_good:test", "--kernels", k61], { env: fallbackEnv });
    expect(vm.code).toBe(1);
    expect(vm.stderr).toBe("Error: check loader not found (dist/check-loader/gadget-check-loader): it is built from core/check/loader by scripts/bootstrap\nhint: run scripts/bootstrap\n");
    expect(await checkPins()).toEqual(pinsBefore);
    expect((await readFile("/proc/self/mounts", "utf8")).split("\n").filter((l) => l.includes(" bpf ")).sort()).toEqual(mountsBefore);
  });

  it("the loader itself says when this process may not load programs (one denied line, no object reported as refused)", async () => {
    const obj = join(root, "good.o");
    await writeFile(obj, objects.find((o) => o.name === "check_good" && o.arch === "amd64")!.bytes);
    const r = await runCommand("setpriv", ["--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-bpf,-perfmon,-sys_admin", LOADER, obj]);
    expect(r.code).toBe(0);
    const kinds = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(kinds.map((k) => k.kind)).toEqual(["kernel", "denied", "end"]);
    expect(kinds[1].reason).toMatch(/^loading BPF programs is not permitted here \(.*operation not permitted\): it needs CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\)$/);
  });

  it("without CAP_BPF the host is skipped with one line naming the capability, not failed", async () => {
    const r = await runCommand("setpriv", ["--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-bpf,-perfmon,-sys_admin", process.execPath, GADGET_BIN, "image", "check", "check_good:test"], {
      env: { ...env(), GADGET_CHECK_CACHE: join(root, "cache-nocap") },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("- host  skipped: loading needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process lacks CAP_BPF and CAP_PERFMON");
  });
});
