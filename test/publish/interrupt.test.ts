/**
 * A hung registry must not eat the CI job (issue #20, defect 3), and a closed stdout is no crash
 * (defect 7). SIGINT/SIGTERM abort in-flight transfers at once: one line naming what was
 * interrupted, exit 130/143, no temp files left — for push, pull, login, import, export and
 * `gadget run publish`. A registry that accepts connections and never answers is a real
 * docker-registry stopped with SIGSTOP. The figures (how long the exit took) are printed, not
 * asserted; a hang would run into the child's 20 s watchdog and fail the exit-code assertion.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN, IG_FIXTURE_TAR, REPO_ROOT, runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { startFaultProxy, type FaultProxy } from "../registry/fault-proxy.js";
import { publishRepo, type PublishRepo } from "./helpers.js";
import { randomBytes } from "node:crypto";
import { LayoutStore } from "../../core/store/layout-store.js";
import { sha256 } from "../../core/oci/digest.js";
import { pack } from "../../core/oci/pack.js";

interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From the signal to the exit. */
  exitMs: number;
}

/**
 * Start gadget, wait until `ready()` (polled), send `sig`, wait for the exit. The child is killed
 * after 20 s (a hang then shows as a failed exit-code assertion, with its output).
 */
function interruptWhen(args: string[], ready: (out: { stdout: string; stderr: string }) => boolean | Promise<boolean>, sig: NodeJS.Signals, opts: { cwd?: string; env?: Record<string, string>; stdin?: string | "keep-open"; unreadStdout?: boolean } = {}): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GADGET_BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    if (opts.unreadStdout) child.stdout.pause(); // never read: the pipe fills and gadget's writes block
    else child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    if (opts.stdin !== "keep-open") child.stdin.end(opts.stdin ?? "");
    else child.stdin.write(Buffer.alloc(1024)); // half a tar header block… and never more
    let sentAt = 0;
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const poll = setInterval(async () => {
      if (sentAt) return;
      if (await ready({ stdout, stderr })) {
        sentAt = performance.now();
        child.kill(sig);
      }
    }, 50);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      clearTimeout(watchdog);
      child.stdin.destroy();
      resolve({ code, signal, stdout, stderr, exitMs: sentAt ? performance.now() - sentAt : -1 });
    });
  });
}

const sleepThen = (ms: number) => {
  const t0 = performance.now();
  return () => performance.now() - t0 >= ms;
};

async function tmpEntries(store: string): Promise<string[]> {
  const dir = join(store, ".tmp");
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((n) => n !== "writers.lock");
}

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
const figures: string[] = [];

beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-interrupt-");
  store = join(tmp.dir, "store");
  const im = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store]);
  expect(im.code, im.stderr).toBe(0);
  const tag = await runGadget(["image", "tag", "trace_open", `${reg.host}/x/trace_open:v1`, "--oci-store", store]);
  expect(tag.code, tag.stderr).toBe(0);
  await bigImage(store, "localhost:5000/big:v1", 8 << 20);
});

/** An image with one large layer (random bytes): its export outlasts any pipe buffer. */
async function bigImage(root: string, reference: string, size: number): Promise<void> {
  const s = await LayoutStore.open(root);
  const bytes = randomBytes(size);
  const layer = { mediaType: "application/vnd.gadget.ebpf.program.v1+binary", digest: sha256(bytes), size };
  await s.push(layer, bytes);
  const img = pack({ config: Buffer.from("name: big\n"), archs: ["amd64"], layers: { amd64: { ebpf: { digest: layer.digest, size } } }, created: "2024-01-01T00:00:00Z", builderVersion: "test" });
  if (img.config) await s.push(img.config.descriptor, img.config.bytes);
  for (const m of img.manifests) await s.push(m.descriptor, m.bytes);
  await s.push(img.index.descriptor, img.index.bytes);
  await s.tag(img.index.descriptor, reference);
}
afterAll(async () => {
  try {
    process.kill(reg.pid, "SIGCONT");
  } catch {
    /* gone */
  }
  await reg?.stop();
  await tmp?.cleanup();
  if (figures.length) console.log(`interrupt figures (signal → exit):\n  ${figures.join("\n  ")}`);
});

describe("SIGINT/SIGTERM end transfers at once (defect 3)", () => {
  it("SIGTERM 3 s into a push to a SIGSTOPped registry: exit 143 with one line naming the push", async () => {
    process.kill(reg.pid, "SIGSTOP");
    try {
      const ref = `${reg.host}/x/trace_open:v1`;
      const r = await interruptWhen(["image", "push", ref, "--insecure-registries", reg.host, "--oci-store", store], sleepThen(3000), "SIGTERM");
      figures.push(`push to a stopped registry, SIGTERM at 3 s: ${Math.round(r.exitMs)} ms`);
      expect(r.code, r.stderr).toBe(143);
      // ig's "Pushing …" line, then the one interrupt line (both on stderr, as ig's status lines)
      expect(r.stderr).toBe(`Pushing ${ref}...\nError: interrupted (pushing ${ref}): received SIGTERM\n`);
      expect(r.stdout).toBe("");
    } finally {
      process.kill(reg.pid, "SIGCONT");
    }
  }, 30_000);

  it("SIGINT during login to a stopped registry: exit 130, one line", async () => {
    process.kill(reg.pid, "SIGSTOP");
    try {
      const r = await interruptWhen(["login", reg.host, "-u", "alice", "--password-stdin", "--plain-http", "--authfile", join(tmp.dir, "auth.json")], sleepThen(1000), "SIGINT", { stdin: "s3cret\n" });
      figures.push(`login to a stopped registry, SIGINT at 1 s: ${Math.round(r.exitMs)} ms`);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toBe(`Error: interrupted (logging in to ${reg.host}): received SIGINT\n`);
      expect(existsSync(join(tmp.dir, "auth.json"))).toBe(false);
    } finally {
      process.kill(reg.pid, "SIGCONT");
    }
  }, 30_000);

  it("SIGTERM during a pull whose blob stalls halfway: exit 143, the partial blob's temp file is gone, fsck is clean", async () => {
    const src = `${reg.host}/x/trace_open:v1`;
    const pushed = await runGadget(["image", "push", src, "--insecure-registries", reg.host, "--oci-store", store]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const proxy: FaultProxy = await startFaultProxy(reg.host, { stallAfterBytes: 512, stallMatch: (req) => req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "") });
    const into = join(tmp.dir, "pull-store");
    try {
      const ref = `${proxy.host}/x/trace_open:v1`;
      const r = await interruptWhen(["image", "pull", ref, "--insecure-registries", proxy.host, "--oci-store", into], async () => (await tmpEntries(into)).some((n) => n.startsWith("blob.tmp-")), "SIGTERM");
      figures.push(`pull with a stalled blob, SIGTERM once its temp file exists: ${Math.round(r.exitMs)} ms`);
      expect(r.code, r.stderr).toBe(143);
      expect(r.stderr).toBe(`Pulling ${ref}...\nError: interrupted (pulling ${ref}): received SIGTERM\n`);
      expect(await tmpEntries(into)).toEqual([]);
      const fsck = await runGadget(["image", "fsck", "--oci-store", into]);
      expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it("SIGTERM during an import that waits for more input: exit 143, the staging folder is gone", async () => {
    const into = join(tmp.dir, "import-store");
    const r = await interruptWhen(["image", "import", "-", "--oci-store", into], async () => (await tmpEntries(into)).some((n) => n.startsWith("import-")), "SIGTERM", { stdin: "keep-open" });
    figures.push(`import from a stalled stdin: ${Math.round(r.exitMs)} ms`);
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toBe("Error: interrupted (importing stdin): received SIGTERM\n");
    expect(await tmpEntries(into)).toEqual([]);
  }, 30_000);

  it("SIGINT during an export to a pipe nobody reads: exit 130, one line", async () => {
    // stdout is a pipe this test never reads: the 8 MiB archive fills it and the write blocks
    const r = await interruptWhen(["image", "export", "localhost:5000/big:v1", "-", "--oci-store", store], sleepThen(1000), "SIGINT", { unreadStdout: true });
    figures.push(`export to a blocked pipe: ${Math.round(r.exitMs)} ms`);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toBe("Error: interrupted (exporting localhost:5000/big:v1 to -): received SIGINT\n");
  }, 30_000);
});

describe("gadget run publish, interrupted while pushing", () => {
  let repo: PublishRepo;
  beforeAll(async () => {
    repo = await publishRepo();
  });
  afterAll(() => repo?.cleanup());

  it("SIGTERM while every gadget's push hangs: exit 143, one line naming the pushes in flight, no temp files, a --json-file saying stopped", async () => {
    await repo.gadgetfile(`[{ type: "sign", key: "release.key" }, { type: "push", tag: "${reg.host}/acme/{name}:v1" }]`);
    process.kill(reg.pid, "SIGSTOP");
    try {
      const r = await interruptWhen(
        ["run", "publish", "--insecure-registries", reg.host, "--json-file", "out/run.json", "--oci-store", repo.store],
        async () => {
          // every gadget built, signed and is now pushing: the signature tags are in the store
          const index = await readFile(join(repo.store, "index.json"), "utf8").catch(() => "");
          return (index.match(/\.sig"/g) ?? []).length === 3;
        },
        "SIGTERM",
        { cwd: repo.dir, env: { SOURCE_DATE_EPOCH: "1700000000" } },
      );
      figures.push(`gadget run publish, pushes to a stopped registry: ${Math.round(r.exitMs)} ms`);
      expect(r.code, r.stderr).toBe(143);
      // the signing lines came before; the interrupt line is the last and only error
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
      expect(errors).toHaveLength(1);
      expect(r.stderr).toMatch(/\nError: interrupted \(gadget run publish; in flight: (push \w+(, )?){3}\): received SIGTERM\n$/);
      for (const g of ["exec_count", "open_count", "tcp_count"]) expect(r.stderr).toContain(`push ${g}`);
      expect(r.stdout).toBe("");
      expect(await tmpEntries(repo.store)).toEqual([]);
      const summary = JSON.parse(await readFile(join(repo.dir, "out", "run.json"), "utf8")) as { ok: boolean; gadgets: { status: string }[] };
      expect(summary.ok).toBe(false);
      expect(summary.gadgets.map((g) => g.status)).toEqual(["stopped", "stopped", "stopped"]);
    } finally {
      process.kill(reg.pid, "SIGCONT");
    }
  }, 60_000);
});

describe("a closed stdout ends quietly (defect 7)", () => {
  /** Run with stdout a pipe whose reading end is closed before gadget writes. */
  function withClosedStdout(args: string[], cwd = REPO_ROOT): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [GADGET_BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.destroy();
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr }));
    });
  }

  it("gadget run --dry, image list, image inspect, --help: exit 0 or 141, nothing on stderr", async () => {
    const repo = await publishRepo();
    try {
      await repo.gadgetfile("[]");
      for (const [args, cwd] of [
        [["run", "--dry"], repo.dir],
        [["image", "list", "--oci-store", store], REPO_ROOT],
        [["image", "inspect", "trace_open", "--verify-image=false", "--oci-store", store], REPO_ROOT],
        [["image", "--help"], REPO_ROOT],
      ] as const) {
        const r = await withClosedStdout([...args], cwd);
        expect([0, 141], `${args.join(" ")}: ${r.code} ${r.stderr}`).toContain(r.code);
        // nothing but ig's own warning for --verify-image=false: no EPIPE stack, no error
        expect(r.stderr.replace(/^Warning: image signature verification is disabled due to using corresponding option\n/, ""), args.join(" ")).toBe("");
      }
    } finally {
      await repo.cleanup();
    }
  }, 60_000);
});
