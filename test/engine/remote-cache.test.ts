/**
 * The remote step cache (issue 13) with a real docker-registry and real clang: checkouts at
 * different paths share their steps through the registry; entries are checked (key, digests,
 * signatures); a registry that fails never fails a build.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { GADGET_BIN, runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { startFaultProxy } from "../registry/fault-proxy.js";
import { FIXTURES, requireTool } from "./helpers.js";

const CACHEABLE = new Set(["clang", "strip", "wasm", "oci-pack"]);
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

function program(i: number, max = 64): string {
  return `// SPDX-License-Identifier: GPL-2.0
#define COUNTER_MAX ${max + i}
#define COUNTER_SECTION "tracepoint/syscalls/sys_enter_openat"
#define COUNTER_FN count_g${i}
#include "../../_shared/counter.h"
`;
}

interface Checkout {
  dir: string;
  store: string;
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let seq = 0;

/** A repo of `n` small gadgets (real clang), at a fresh path, with its own empty store. */
async function checkout(n: number, gadgetfileExtra = "", o: { max?: number } = {}): Promise<Checkout> {
  const root = join(tmp.dir, `c${seq++}`);
  const dir = join(root, "repo");
  for (let i = 0; i < n; i++) {
    const g = join(dir, "gadgets", `g${String(i).padStart(2, "0")}`);
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "program.bpf.c"), program(i, o.max));
    await writeFile(join(g, "gadget.yaml"), `name: g${i}\ndescription: remote cache test gadget ${i}\n`);
  }
  await cp(join(FIXTURES, "_shared"), join(dir, "_shared"), { recursive: true });
  await writeFile(join(dir, "gadgetfile.ts"), `import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], defaults: { tag: "localhost:5000/rc/{name}:dev" }${gadgetfileExtra} });\n`);
  const store = join(root, "store");
  await mkdir(store);
  return { dir, store, run: (args, env) => runGadget([...args, "--oci-store", store], { cwd: dir, env: { SOURCE_DATE_EPOCH: "1700000000", GADGET_INSECURE_REGISTRIES: reg.host, ...env } }) };
}

/** A copy of a checkout at another path, without its .gadget/ and with an empty store. */
async function copyCheckout(c: Checkout): Promise<Checkout> {
  const root = join(tmp.dir, `c${seq++}`);
  const dir = join(root, "repo");
  await cp(c.dir, dir, { recursive: true, filter: (src) => !src.includes("/.gadget") });
  const store = join(root, "store");
  await mkdir(store);
  return { dir, store, run: (args, env) => runGadget([...args, "--oci-store", store], { cwd: dir, env: { SOURCE_DATE_EPOCH: "1700000000", GADGET_INSECURE_REGISTRIES: reg.host, ...env } }) };
}

function parse(r: RunResult): { ok: boolean; cache: { localHits: number; remoteHits: number; misses: number }; gadgets: { name: string; digest?: string; localHits: number; remoteHits: number; misses: number }[] } {
  try {
    return JSON.parse(r.stdout) as ReturnType<typeof parse>;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

function digests(r: RunResult): Record<string, string> {
  return Object.fromEntries(parse(r).gadgets.map((g) => [g.name, g.digest ?? ""]));
}

/** --explain lines of cacheable steps: "g00 clang@amd64" → "hit (remote)" / "miss: …". */
function explained(stderr: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of stderr.split("\n")) {
    const x = /^(\S+) (\S+): (hit(?: \(remote\))?|miss: .*)$/.exec(l);
    if (x && CACHEABLE.has(x[2]!.split("@")[0]!)) m.set(`${x[1]} ${x[2]}`, x[3]!);
  }
  return m;
}

function warnings(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /warning/i.test(l));
}

async function tags(repo: string, host = reg.host): Promise<string[]> {
  const r = await fetch(`http://${host}/v2/${repo}/tags/list?n=1000`);
  if (r.status === 404) return [];
  return ((await r.json()) as { tags: string[] | null }).tags ?? [];
}

async function getManifest(repo: string, ref: string): Promise<Buffer> {
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST } });
  expect(r.status).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}

async function putManifest(repo: string, ref: string, bytes: Buffer): Promise<void> {
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${ref}`, { method: "PUT", headers: { "content-type": MANIFEST }, body: new Uint8Array(bytes) });
  expect(r.status).toBe(201);
}

const WRITES = new Set(["PUT", "POST", "PATCH", "DELETE"]);

/** Every request the registry logged, those answered with an error included (requests() has only the completed ones). */
async function allRequests(r: RunningRegistry): Promise<{ method: string; uri: string; status: number }[]> {
  await new Promise((res) => setTimeout(res, 150));
  const out: { method: string; uri: string; status: number }[] = [];
  for (const line of r.log().split("\n")) {
    if (!line.includes('"http.request.method"') || !line.includes('"http.response.status"')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      out.push({ method: String(o["http.request.method"]), uri: String(o["http.request.uri"]), status: Number(o["http.response.status"]) });
    } catch {
      /* a partial line */
    }
  }
  return out;
}

let reg: RunningRegistry;
let A: Checkout;
let aDigests: Record<string, string>;
const N = 10;

beforeAll(async () => {
  requireTool("clang");
  requireTool("llvm-strip");
  tmp = await tempDir("gadget-remote-cache-");
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("remote cache: checkouts share steps through a real registry", () => {
  const REPO = "team/cache";
  let B: Checkout;
  let aMs = 0;

  it(`checkout A builds ${N} gadgets cold; its entries are tagged when it exits and no blob went up twice`, async () => {
    A = await checkout(N);
    const before = (await reg.requests(0)).length;
    const t0 = performance.now();
    const r = await A.run(["run", "--json", "--remote-cache", `${reg.host}/${REPO}`]);
    aMs = performance.now() - t0;
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    aDigests = digests(r);
    expect(Object.keys(aDigests)).toHaveLength(N);
    const j = parse(r);
    expect(j.cache.remoteHits).toBe(0);
    // one entry per cacheable step: clang×2, strip×2, wasm, oci-pack per gadget
    const t = (await tags(REPO)).filter((x) => x.startsWith("step-sha256-"));
    expect(t).toHaveLength(N * 6);
    for (const x of t) expect(x).toMatch(/^step-sha256-[a-f0-9]{64}$/);
    const uploads = (await reg.requests()).slice(before).filter((q) => q.method === "PUT" && /\/blobs\/uploads\/.*digest=/.test(q.uri));
    const byDigest = new Map<string, number>();
    for (const u of uploads) {
      const d = decodeURIComponent(/digest=([^&]+)/.exec(u.uri)![1]!);
      byDigest.set(d, (byDigest.get(d) ?? 0) + 1);
    }
    expect(byDigest.size).toBeGreaterThan(0);
    expect([...byDigest].filter(([, n]) => n > 1)).toEqual([]);
  });

  it("checkout B (a copy at another path, empty .gadget/) gets every cacheable step as a remote hit, with A's digests", async () => {
    B = await copyCheckout(A);
    const before = (await allRequests(reg)).length;
    const t0 = performance.now();
    const r = await B.run(["run", "--json", "--explain", "--remote-cache", `${reg.host}/${REPO}`]);
    const bMs = performance.now() - t0;
    // printed, not asserted (timing belongs to test/bench/remote-cache.bench.ts)
    console.log(`remote cache: A cold ${aMs.toFixed(0)} ms, B all remote hits ${bMs.toFixed(0)} ms (${(bMs / aMs).toFixed(2)}× A; issue goal ≤ 0.25×)`);
    expect(r.code, r.stderr).toBe(0);
    // small blobs ride in the manifest: a hit is one HEAD (the tag) and one GET (the manifest), no blob request
    const seen = (await allRequests(reg)).slice(before).filter((q) => q.uri.startsWith(`/v2/${REPO}/`));
    expect(seen.filter((q) => q.method === "HEAD" && q.uri.includes("/manifests/step-sha256-"))).toHaveLength(N * 6);
    expect(seen.filter((q) => q.method === "GET" && q.uri.includes("/manifests/sha256:"))).toHaveLength(N * 6);
    expect(seen.filter((q) => q.uri.includes("/blobs/"))).toEqual([]);
    expect(warnings(r.stderr)).toEqual([]);
    expect(digests(r)).toEqual(aDigests);
    const ex = explained(r.stderr);
    expect(ex.size).toBe(N * 6);
    for (const [k, v] of ex) expect(`${k}: ${v}`).toBe(`${k}: hit (remote)`);
    expect(r.stderr).toContain(`explain: ${N * 6} hits (${N * 6} remote), 0 misses;`);
    const j = parse(r);
    expect(j.cache).toEqual({ localHits: 0, remoteHits: N * 6, misses: 0 });
    expect(j.gadgets[0]!.remoteHits).toBe(6);
  });

  it("B's store passes gadget image fsck", async () => {
    const r = await runGadget(["image", "fsck", "--oci-store", B.store]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it("B's next run is all local hits and contacts no registry", async () => {
    const before = (await reg.requests(0)).length;
    const r = await B.run(["run", "--json", "--explain", "--remote-cache", `${reg.host}/${REPO}`]);
    expect(r.code).toBe(0);
    expect(digests(r)).toEqual(aDigests);
    for (const [k, v] of explained(r.stderr)) expect(`${k}: ${v}`).toBe(`${k}: hit`);
    expect(parse(r).cache).toEqual({ localHits: N * 6, remoteHits: 0, misses: 0 });
    expect((await reg.requests()).length).toBe(before);
  });

  it("gadget run --watch uses the remote cache too (its first build: all remote hits)", async () => {
    const c = await copyCheckout(A);
    const child = spawn(process.execPath, [GADGET_BIN, "run", "--watch", "--explain", "--only", "g00", "--remote-cache", `${reg.host}/${REPO}`, "--oci-store", c.store], {
      cwd: c.dir,
      env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000", GADGET_INSECURE_REGISTRIES: reg.host },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      for (let i = 0; i < 1000 && !stderr.includes("watching "); i++) await new Promise((r) => setTimeout(r, 20));
      expect(stderr).toContain("watching ");
      const ex = explained(stderr);
      expect(ex.size).toBe(6);
      for (const [k, v] of ex) expect(`${k}: ${v}`).toBe(`${k}: hit (remote)`);
      expect(stdout).toContain(`✓ g00 `);
      expect(stdout).toContain(aDigests.g00!);
    } finally {
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    }
  });

  it("gadget cache ls --remote lists the entries; gadget cache ls the local ones", async () => {
    const r = await runGadget(["cache", "ls", "--remote", "--remote-cache", `${reg.host}/${REPO}`, "--json"], { cwd: B.dir, env: { GADGET_INSECURE_REGISTRIES: reg.host } });
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { key: string; stage: string; outputs: string[]; created?: string }[];
    expect(rows).toHaveLength(N * 6);
    expect(rows.filter((x) => x.stage.startsWith("clang@"))).toHaveLength(N * 2);
    expect(rows.find((x) => x.stage.startsWith("oci-pack@"))!.outputs).toEqual(["index"]);
    for (const x of rows) expect(x.created).toMatch(/^\d{4}-\d\d-\d\dT/);
    const local = await runGadget(["cache", "ls", "--json"], { cwd: B.dir });
    expect(local.code, local.stderr).toBe(0);
    expect((JSON.parse(local.stdout) as unknown[]).length).toBe(N * 6);
    const human = await runGadget(["cache", "ls", "--remote", "--remote-cache", `${reg.host}/${REPO}`], { cwd: B.dir, env: { GADGET_INSECURE_REGISTRIES: reg.host } });
    expect(human.stdout.split("\n")[0]).toMatch(/^KEY\s+STAGE\s+OUTPUTS\s+SIZE\s+CREATED$/);
  });
});

describe("remote cache: entries that must not be used", () => {
  it("an entry re-tagged under another key's tag is a miss (`remote: entry for another key`), rebuilt with the right digest", async () => {
    const REPO = "team/swap";
    const w = await checkout(2);
    expect((await w.run(["run", "--json", "--remote-cache", `${reg.host}/${REPO}`])).code).toBe(0);
    const t = (await tags(REPO)).filter((x) => x.startsWith("step-sha256-")).sort();
    // put the first entry's manifest under the second's tag
    await putManifest(REPO, t[1]!, await getManifest(REPO, t[0]!));
    const c = await copyCheckout(w);
    const r = await c.run(["run", "--json", "--explain", "--remote-cache", `${reg.host}/${REPO}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    const misses = [...explained(r.stderr)].filter(([, v]) => v.startsWith("miss"));
    expect(misses.map(([, v]) => v)).toEqual(["miss: remote: entry for another key"]);
    expect(digests(r)).toEqual(Object.fromEntries(Object.entries(aDigests).filter(([k]) => k === "g00" || k === "g01")));
  });

  it("an entry built with other headers than this checkout has is a miss naming the header", async () => {
    const REPO = "team/headers";
    const w = await checkout(1);
    expect((await w.run(["run", "--json", "--remote-cache", `${reg.host}/${REPO}`])).code).toBe(0);
    const c = await copyCheckout(w);
    await writeFile(join(c.dir, "_shared", "counter.h"), (await readFile(join(c.dir, "_shared", "counter.h"), "utf8")) + "/* changed here */\n");
    const r = await c.run(["run", "--json", "--explain", "--remote-cache", `${reg.host}/${REPO}`, "--remote-cache-read-only"]);
    expect(r.code, r.stderr).toBe(0);
    const ex = explained(r.stderr);
    expect(ex.get("g00 clang@amd64")).toBe("miss: remote: built with another _shared/counter.h");
    expect(ex.get("g00 clang@arm64")).toBe("miss: remote: built with another _shared/counter.h");
  });

  it("a tampered embedded blob is a miss (`remote: corrupt entry`), rebuilt, without a warning", async () => {
    const REPO = "team/tamper";
    const w = await checkout(2);
    expect((await w.run(["run", "--json", "--remote-cache", `${reg.host}/${REPO}`])).code).toBe(0);
    // an oci-pack entry: flip a byte of an embedded store blob
    let tampered = 0;
    for (const t of (await tags(REPO)).filter((x) => x.startsWith("step-sha256-"))) {
      const m = JSON.parse((await getManifest(REPO, t)).toString()) as { layers: { mediaType: string; data?: string }[] };
      const l = m.layers.find((x) => x.mediaType === "application/vnd.gadget.cache.store-blob.v1" && x.data);
      if (!l || tampered > 0) continue;
      const b = Buffer.from(l.data!, "base64");
      b[0] = b[0]! ^ 0xff;
      l.data = b.toString("base64");
      await putManifest(REPO, t, Buffer.from(JSON.stringify(m)));
      tampered++;
    }
    expect(tampered).toBe(1);
    const c = await copyCheckout(w);
    const r = await c.run(["run", "--json", "--explain", "--remote-cache", `${reg.host}/${REPO}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    const misses = [...explained(r.stderr)].filter(([, v]) => v.startsWith("miss"));
    expect(misses).toHaveLength(1);
    expect(misses[0]![0]).toMatch(/ oci-pack$/);
    expect(misses[0]![1]).toBe("miss: remote: corrupt entry");
    expect(digests(r)).toEqual({ g00: aDigests.g00, g01: aDigests.g01 });
    expect((await runGadget(["image", "fsck", "--oci-store", c.store])).code).toBe(0);
  });

  it("a download corrupted on the way (fault proxy) is a miss (`remote: corrupt entry`), rebuilt, without a warning", async () => {
    const REPO = "team/noinline";
    const w = await checkout(2);
    // nothing embedded: every blob is downloaded
    expect((await w.run(["run", "--json", "--remote-cache", `${reg.host}/${REPO}`], { GADGET_REMOTE_CACHE_INLINE: "0" })).code).toBe(0);
    const m = JSON.parse((await getManifest(REPO, (await tags(REPO)).find((x) => x.startsWith("step-sha256-"))!)).toString()) as { config: { data?: string } };
    expect(m.config.data).toBeUndefined();
    const proxy = await startFaultProxy(reg.host, { corruptBlobs: true });
    try {
      const c = await copyCheckout(w);
      const r = await c.run(["run", "--json", "--explain", "--remote-cache", `${proxy.host}/${REPO}`], { GADGET_INSECURE_REGISTRIES: proxy.host });
      expect(r.code, r.stderr).toBe(0);
      expect(warnings(r.stderr)).toEqual([]);
      const ex = [...explained(r.stderr)];
      expect(ex).toHaveLength(12);
      for (const [k, v] of ex) expect(`${k}: ${v}`).toBe(`${k}: miss: remote: corrupt entry`);
      expect(digests(r)).toEqual({ g00: aDigests.g00, g01: aDigests.g01 });
      expect(proxy.seen.some((s) => s.method === "GET" && /\/blobs\/sha256:/.test(s.url))).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

describe("remote cache: trust (publicKeys, signKey)", () => {
  let keys: string;
  beforeAll(async () => {
    keys = join(tmp.dir, "keys");
    await mkdir(keys);
    for (const name of ["writer", "other"]) {
      const p = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      await writeFile(join(keys, `${name}.key`), p.privateKey.export({ type: "pkcs8", format: "pem" }));
      await writeFile(join(keys, `${name}.pub`), p.publicKey.export({ type: "spki", format: "pem" }));
    }
  });
  const cacheOf = (o: { signKey?: string; publicKey?: string }) =>
    `, cache: { ${o.signKey ? `signKey: ${JSON.stringify(join(keys, o.signKey))}, ` : ""}${o.publicKey ? `publicKeys: [${JSON.stringify(join(keys, o.publicKey))}]` : ""} }`;

  it("a trusted writer signs its entries (cosign legacy .sig tags); unsigned entries are `remote: unsigned`, others' `remote: bad signature`, its own hits", async () => {
    const signed = await checkout(2, cacheOf({ signKey: "writer.key" }));
    const w1 = await signed.run(["run", "--json", "--remote-cache", `${reg.host}/trust/signed`]);
    expect(w1.code, w1.stderr).toBe(0);
    const t = await tags("trust/signed");
    expect(t.filter((x) => x.startsWith("step-sha256-"))).toHaveLength(12);
    expect(t.filter((x) => /^sha256-[a-f0-9]{64}\.sig$/.test(x))).toHaveLength(12);

    const unsigned = await checkout(2);
    expect((await unsigned.run(["run", "--json", "--remote-cache", `${reg.host}/trust/unsigned`])).code).toBe(0);

    const reader = async (repo: string, publicKey: string) => {
      const c = await checkout(2, cacheOf({ publicKey }));
      const r = await c.run(["run", "--json", "--explain", "--remote-cache", `${reg.host}/${repo}`, "--remote-cache-read-only"]);
      expect(r.code, r.stderr).toBe(0);
      expect(warnings(r.stderr)).toEqual([]);
      expect(digests(r)).toEqual({ g00: aDigests.g00, g01: aDigests.g01 });
      return [...explained(r.stderr).values()];
    };
    const u = await reader("trust/unsigned", "writer.pub");
    expect(u).toHaveLength(12);
    // clang and wasm steps have no entry-dependent inputs: every one misses the same way
    expect(new Set(u)).toEqual(new Set(["miss: remote: unsigned"]));
    const o = await reader("trust/signed", "other.pub");
    expect(new Set(o)).toEqual(new Set(["miss: remote: bad signature"]));
    const ok = await reader("trust/signed", "writer.pub");
    expect(new Set(ok)).toEqual(new Set(["hit (remote)"]));
  });

  it("gadget cache prune --remote --older-than deletes entries and their signatures by digest", async () => {
    const keep = await runGadget(["cache", "prune", "--remote", "--older-than", "1h", "--remote-cache", `${reg.host}/trust/signed`, "--json"], { cwd: tmp.dir, env: { GADGET_INSECURE_REGISTRIES: reg.host } });
    expect(keep.code, keep.stderr).toBe(0);
    expect(JSON.parse(keep.stdout)).toMatchObject({ removedEntries: 0, keptEntries: 12 });
    const all = await runGadget(["cache", "prune", "--remote", "--older-than", "0s", "--remote-cache", `${reg.host}/trust/signed`, "--json"], { cwd: tmp.dir, env: { GADGET_INSECURE_REGISTRIES: reg.host } });
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ removedEntries: 12, removedSignatures: 12, keptEntries: 0 });
    expect(await tags("trust/signed")).toEqual([]);
    const usage = await runGadget(["cache", "prune", "--remote", "--remote-cache", `${reg.host}/trust/signed`], { cwd: tmp.dir });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--older-than");
  });
});

describe("remote cache: read-only and failures", () => {
  it("read-only mode writes nothing (the registry log shows no PUT/POST/PATCH/DELETE)", async () => {
    const c = await checkout(2, "", { max: 300 }); // new sources: every step misses, and would be written
    const before = (await allRequests(reg)).length;
    const r = await c.run(["run", "--json", "--remote-cache", `${reg.host}/team/ro`], { GADGET_REMOTE_CACHE_READ_ONLY: "1" });
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    const after = (await allRequests(reg)).slice(before);
    expect(after.filter((q) => q.uri.includes("/team/ro/manifests/step-sha256-"))).toHaveLength(12); // it did look
    expect(after.filter((q) => WRITES.has(q.method))).toEqual([]);
    expect(await tags("team/ro")).toEqual([]);
  });

  it("a registry killed mid-run: the build succeeds with exactly one warning and the right digests", async () => {
    const own = await startRegistry();
    try {
      const c = await checkout(N);
      const child = spawn(process.execPath, [GADGET_BIN, "run", "--json", "--remote-cache", `${own.host}/team/killed`, "--oci-store", c.store], {
        cwd: c.dir,
        env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000", GADGET_INSECURE_REGISTRIES: own.host },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const exited = new Promise<number>((r) => child.on("close", (code) => r(code ?? -1)));
      // kill it once the run has started talking to it
      for (let i = 0; i < 500 && (await own.requests(0)).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      own.kill();
      const code = await exited;
      expect(code, stderr).toBe(0);
      const w = warnings(stderr);
      expect(w).toHaveLength(1);
      expect(w[0]).toContain(`remote cache ${own.host}/team/killed`);
      expect(w[0]).toContain("building locally");
      expect(digests({ code, stdout, stderr })).toEqual(aDigests);
    } finally {
      await own.stop();
    }
  });

  it("a registry that accepts connections and never answers: the idle timeout (GADGET_REMOTE_CACHE_TIMEOUT), one warning, a local build", async () => {
    const own = await startRegistry();
    process.kill(own.pid, "SIGSTOP");
    try {
      const c = await checkout(2);
      const r = await c.run(["run", "--json", "--remote-cache", `${own.host}/team/silent`], { GADGET_INSECURE_REGISTRIES: own.host, GADGET_REMOTE_CACHE_TIMEOUT: "300ms" });
      expect(r.code, r.stderr).toBe(0);
      const w = warnings(r.stderr);
      expect(w).toHaveLength(1);
      expect(w[0]).toContain("idle timeout");
      expect(digests(r)).toEqual({ g00: aDigests.g00, g01: aDigests.g01 });
    } finally {
      process.kill(own.pid, "SIGCONT");
      await own.stop();
    }
  });

  it("a registry answering 503: one warning, the build succeeds locally", async () => {
    const proxy = await startFaultProxy(reg.host, { fail503: 1_000_000 });
    try {
      const c = await checkout(2);
      const r = await c.run(["run", "--json", "--explain", "--remote-cache", `${proxy.host}/team/unavailable`], { GADGET_INSECURE_REGISTRIES: proxy.host });
      expect(r.code, r.stderr).toBe(0);
      const w = warnings(r.stderr);
      expect(w).toHaveLength(1);
      expect(w[0]).toContain("503");
      expect(digests(r)).toEqual({ g00: aDigests.g00, g01: aDigests.g01 });
      expect(proxy.seen.length).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it("a bad --remote-cache reference is a usage error naming the flag", async () => {
    const c = await checkout(1);
    const r = await c.run(["run", "--remote-cache", `${reg.host}/team/x:v1`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--remote-cache");
    expect(r.stderr).toContain("names a tag");
  });
});

describe("remote cache: token auth (a logged-in writer, anonymous readers)", () => {
  let treg: RunningRegistry;
  let authfile: string;
  let W: Checkout;
  beforeAll(async () => {
    treg = await startRegistry({ token: { users: { alice: "s3cret" }, anonymousPull: true } });
    authfile = join(tmp.dir, "auth.json");
    await writeFile(authfile, JSON.stringify({ auths: { [treg.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
    await writeFile(join(tmp.dir, "empty-auth.json"), "{}");
  });
  afterAll(async () => treg?.stop());
  const runOn = (c: Checkout, args: string[], env: Record<string, string>) =>
    runGadget([...args, "--oci-store", c.store], { cwd: c.dir, env: { SOURCE_DATE_EPOCH: "1700000000", GADGET_INSECURE_REGISTRIES: treg.host, ...env } });

  it("a logged-in writer stores its entries", async () => {
    W = await checkout(2);
    const r = await runOn(W, ["run", "--json", "--remote-cache", `${treg.host}/team/tok`], { REGISTRY_AUTH_FILE: authfile });
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    const t = await runGadget(["cache", "ls", "--remote", "--json", "--remote-cache", `${treg.host}/team/tok`], { cwd: W.dir, env: { GADGET_INSECURE_REGISTRIES: treg.host, REGISTRY_AUTH_FILE: authfile } });
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toHaveLength(12);
  });

  it("an anonymous read-only reader hits and writes nothing", async () => {
    const c = await copyCheckout(W);
    const before = (await allRequests(treg)).length;
    const empty = join(tmp.dir, "empty-auth.json");
    const r = await runOn(c, ["run", "--json", "--explain", "--remote-cache", `${treg.host}/team/tok`, "--remote-cache-read-only"], { REGISTRY_AUTH_FILE: empty });
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    expect(parse(r).cache.remoteHits).toBe(12);
    const after = (await allRequests(treg)).slice(before);
    expect(after.some((q) => q.method === "GET" && q.status === 200)).toBe(true);
    expect(after.filter((q) => WRITES.has(q.method))).toEqual([]);
  });

  it("an anonymous writer gets one warning pointing to --remote-cache-read-only, and its build succeeds", async () => {
    const c = await checkout(2, "", { max: 500 });
    const empty = join(tmp.dir, "empty-auth.json");
    const r = await runOn(c, ["run", "--json", "--remote-cache", `${treg.host}/team/tok`], { REGISTRY_AUTH_FILE: empty });
    expect(r.code, r.stderr).toBe(0);
    const w = warnings(r.stderr);
    expect(w).toHaveLength(1);
    expect(w[0]).toContain("--remote-cache-read-only");
    expect(Object.keys(digests(r))).toEqual(["g00", "g01"]);
  });
});
