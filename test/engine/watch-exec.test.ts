/**
 * `gadget run --watch --exec CMD` (issue 21), end to end: the real CLI, real clang, real files and
 * a stand-in command (test/fixtures/exec-standin.mjs) in place of `ig run {ref}` that records its
 * argv, environment, the signals it receives and its start/stop times. Processes are checked by
 * pid in /proc (a zombie counts as gone).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FIXTURES, GADGET_BIN } from "../helpers/cli.js";
import { copyFixture, requireTool, type Repo } from "./helpers.js";

const STANDIN = join(FIXTURES, "exec-standin.mjs");

interface Rec {
  event: "start" | "signal" | "exit" | "grandchild";
  pid: number;
  t: number;
  argv?: string[];
  env?: Record<string, string>;
  stdinTTY?: boolean;
  signal?: string;
  code?: number;
  child?: number;
}

class Watcher {
  stdout = "";
  stderr = "";
  readonly exit: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (d) => (this.stdout += d));
    child.stderr?.on("data", (d) => (this.stderr += d));
    this.exit = new Promise((r) => child.on("exit", (code) => r(code)));
  }
  async waitFor(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (this.child.exitCode !== null) throw new Error(`gadget exited (${this.child.exitCode}) while waiting for ${what}\n${this.stdout}\n${this.stderr}`);
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function startWatch(repo: Repo, args: string[]): Watcher {
  const child = spawn(process.execPath, [GADGET_BIN, "run", "--watch", "--oci-store", repo.store, ...args], { cwd: repo.dir, env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, stdio: ["ignore", "pipe", "pipe"] });
  return new Watcher(child);
}

function readLog(log: string): Rec[] {
  try {
    return readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Rec);
  } catch {
    return [];
  }
}

const starts = (log: string, name?: string) => readLog(log).filter((r) => r.event === "start" && (name === undefined || r.env?.GADGET_NAME === name));
const eventsOf = (log: string, pid: number) => readLog(log).filter((r) => r.pid === pid && r.event !== "start");

/** Alive = in /proc and not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

const lines = (s: string) => s.split("\n").filter(Boolean);
const digestOf = (w: Watcher, name: string, from = 0) => lines(w.stdout).slice(from).filter((l) => l.startsWith(`✓ ${name} `)).at(-1)?.split(" ").at(-1);

/** The file that sets a gadget's COUNTER_MAX (open_count takes it from include/common.h). */
function counterFile(repo: Repo, gadget: string): string {
  return gadget === "open_count" ? join(repo.dir, "include", "common.h") : join(repo.dir, "gadgets", gadget, "program.bpf.c");
}
async function setCounterMax(repo: Repo, gadget: string, n: number, extra = ""): Promise<void> {
  const f = counterFile(repo, gadget);
  await writeFile(f, (await readFile(f, "utf8")).replace(/#define COUNTER_MAX \d+/, `#define COUNTER_MAX ${n}`) + extra);
}

describe("gadget run --watch --exec: three gadgets, one command each", () => {
  let repo: Repo;
  let w: Watcher;
  let log: string;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("repo3");
    log = join(repo.dir, "..", "exec.log");
    w = startWatch(repo, ["--exec", `node ${STANDIN} --log ${log} --say hi {name} {ref} {digest}`, "--exec-grace", "2s"]);
  });
  afterAll(async () => {
    if (w && w.child.exitCode === null) w.child.kill("SIGKILL");
    for (const r of repo ? starts(log) : []) if (alive(r.pid)) process.kill(r.pid, "SIGKILL");
    await repo?.cleanup();
  });

  it("starts one instance per gadget after the first build, with {name} {ref} {digest}, GADGET_* variables and [name]-prefixed output", async () => {
    await w.waitFor(() => w.stderr.includes("watching") && starts(log).length === 3, "three instances");
    await w.waitFor(() => (w.stdout.match(/^\[\w+\] hi$/gm) ?? []).length === 3 && (w.stderr.match(/^\[\w+\] err hi$/gm) ?? []).length === 3, "their output");
    for (const name of ["exec_count", "open_count", "tcp_count"]) {
      const [s] = starts(log, name);
      const ref = `localhost:5000/test/${name}:dev`;
      const digest = digestOf(w, name)!;
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(s!.argv!.slice(-3)).toEqual([name, ref, digest]);
      expect(s!.env).toEqual({ GADGET_REF: ref, GADGET_DIGEST: digest, GADGET_NAME: name, GADGET_DIR: join(repo.dir, "gadgets", name), GADGET_OCI_STORE: repo.store });
      expect(s!.stdinTTY).toBe(false);
      expect(w.stdout).toContain(`[${name}] hi\n`);
      expect(w.stderr).toContain(`[${name}] err hi\n`);
      expect(w.stderr).toMatch(new RegExp(`^\\[${name}\\] started node \\S+exec-standin\\.mjs .* \\(pid ${s!.pid}\\)$`, "m"));
      expect(alive(s!.pid)).toBe(true);
    }
  });

  it("edit → rebuild: the old instance gets SIGINT and is gone before the new one starts with the new {ref}/{digest}; the other gadgets' instances are untouched", async () => {
    const [old] = starts(log, "exec_count");
    const others = [...starts(log, "open_count"), ...starts(log, "tcp_count")];
    const before = digestOf(w, "exec_count")!;
    const mark = lines(w.stdout).length;
    await setCounterMax(repo, "exec_count", 70);
    await w.waitFor(() => starts(log, "exec_count").length === 2 && digestOf(w, "exec_count", mark) !== undefined, "the new exec_count instance and its ✓ line");
    const fresh = starts(log, "exec_count")[1]!;
    const after = digestOf(w, "exec_count", mark)!;
    expect(after).not.toBe(before);
    expect(fresh.argv!.slice(-2)).toEqual(["localhost:5000/test/exec_count:dev", after]);
    expect(fresh.env!.GADGET_DIGEST).toBe(after);
    const stopped = eventsOf(log, old!.pid);
    expect(stopped.map((e) => e.event)).toEqual(["signal", "exit"]);
    expect(stopped[0]!.signal).toBe("SIGINT");
    expect(stopped[1]!.t).toBeLessThan(fresh.t);
    expect(alive(old!.pid)).toBe(false);
    await new Promise((r) => setTimeout(r, 500)); // nothing else restarts
    expect(starts(log)).toHaveLength(4);
    for (const o of others) {
      expect(eventsOf(log, o.pid)).toEqual([]);
      expect(alive(o.pid)).toBe(true);
    }
  });

  it("a compile error keeps the running instance and says so in one line; the fix restarts it", async () => {
    const running = starts(log, "exec_count").at(-1)!;
    const errMark = w.stderr.length;
    const good = await readFile(counterFile(repo, "exec_count"), "utf8");
    await setCounterMax(repo, "exec_count", 71, "int broken(void) { return 0 +; }\n");
    await w.waitFor(() => /^✗ exec_count /m.test(w.stdout), "the failed build");
    await w.waitFor(() => w.stderr.slice(errMark).includes("[exec_count] build failed: the previous instance keeps running (sha256:"), "the keep line");
    expect(w.stderr.slice(errMark).match(/\[exec_count\] build failed/g)).toHaveLength(1);
    expect(eventsOf(log, running.pid)).toEqual([]);
    expect(alive(running.pid)).toBe(true);
    await writeFile(counterFile(repo, "exec_count"), good.replace(/COUNTER_MAX \d+/, "COUNTER_MAX 71"));
    await w.waitFor(() => starts(log, "exec_count").length === 3, "the restart after the fix");
    expect(eventsOf(log, running.pid).map((e) => e.signal ?? e.event)).toEqual(["SIGINT", "exit"]);
    expect(starts(log, "exec_count").at(-1)!.env!.GADGET_DIGEST).not.toBe(running.env!.GADGET_DIGEST);
  });

  it("Ctrl-C stops every instance (checked by pid), then the watcher, and exits 0", async () => {
    const running = ["exec_count", "open_count", "tcp_count"].map((n) => starts(log, n).at(-1)!);
    for (const r of running) expect(alive(r.pid)).toBe(true);
    w.child.kill("SIGINT");
    expect(await w.exit).toBe(0);
    for (const r of running) {
      expect(alive(r.pid)).toBe(false);
      expect(eventsOf(log, r.pid).map((e) => e.signal ?? e.event)).toEqual(["SIGINT", "exit"]);
    }
    for (const r of starts(log)) expect(alive(r.pid)).toBe(false);
  });
});

describe("gadget run --watch --exec: one gadget (--only) whose command ignores SIGINT and SIGTERM and has a child", () => {
  let repo: Repo;
  let w: Watcher;
  let log: string;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("repo3");
    log = join(repo.dir, "..", "exec.log");
    w = startWatch(repo, ["--only", "open_count", "--exec-grace", "300ms", "--exec", `node ${STANDIN} --log ${log} --ignore-sigint --ignore-sigterm --grandchild --say hi {digest}`]);
  });
  afterAll(async () => {
    if (w && w.child.exitCode === null) w.child.kill("SIGKILL");
    for (const r of repo ? readLog(log) : []) for (const pid of [r.pid, r.child ?? 0]) if (pid && alive(pid)) process.kill(pid, "SIGKILL");
    await repo?.cleanup();
  });

  it("builds and runs only that gadget, its output passed through unprefixed", async () => {
    await w.waitFor(() => w.stderr.includes("watching") && readLog(log).some((r) => r.event === "grandchild"), "the instance and its child");
    expect(lines(w.stdout).filter((l) => l.startsWith("✓ ")).map((l) => l.split(" ")[1])).toEqual(["open_count"]);
    expect(starts(log)).toHaveLength(1);
    expect(starts(log)[0]!.env!.GADGET_NAME).toBe("open_count");
    await w.waitFor(() => lines(w.stdout).includes("hi") && lines(w.stderr).includes("err hi"), "the instance's own output lines, unprefixed");
  });

  it("edit → the old group is SIGINTed, SIGTERMed after the grace period, then SIGKILLed with its child, before the new instance starts", async () => {
    const old = starts(log)[0]!;
    const grandchild = readLog(log).find((r) => r.event === "grandchild" && r.pid === old.pid)!.child!;
    expect(alive(grandchild)).toBe(true);
    const errMark = w.stderr.length;
    await setCounterMax(repo, "open_count", 2048);
    // (the instance's log and gadget's stderr are separate pipes: wait for both)
    await w.waitFor(() => starts(log).length === 2 && w.stderr.slice(errMark).includes("sending SIGKILL"), "the new instance");
    const fresh = starts(log)[1]!;
    const signals = eventsOf(log, old.pid).filter((e) => e.event !== "grandchild");
    expect(signals.map((e) => e.signal)).toEqual(["SIGINT", "SIGTERM"]); // no exit record: SIGKILL
    expect(fresh.t).toBeGreaterThan(signals[1]!.t);
    expect(alive(old.pid)).toBe(false);
    expect(alive(grandchild)).toBe(false);
    const err = w.stderr.slice(errMark);
    expect(err).toContain("[open_count] still running 0.3 s after SIGINT: sending SIGTERM");
    expect(err).toContain("[open_count] still running 0.3 s after SIGTERM: sending SIGKILL");
    expect(err).not.toMatch(/exited/); // stopped by gadget, not exiting by itself
  });

  it("Ctrl-C kills the stubborn instance and its child too, and exits 0", async () => {
    await w.waitFor(() => readLog(log).filter((r) => r.event === "grandchild").length === 2, "the new instance's child");
    const current = starts(log)[1]!;
    const grandchild = readLog(log).find((r) => r.event === "grandchild" && r.pid === current.pid)!.child!;
    w.child.kill("SIGINT");
    expect(await w.exit).toBe(0);
    expect(alive(current.pid)).toBe(false);
    expect(alive(grandchild)).toBe(false);
  });
});

describe("gadget run --watch --exec: a command that exits by itself (sh -c, crashing at once)", () => {
  let repo: Repo;
  let w: Watcher;
  let log: string;
  /** One line per start: "<{digest}> <$GADGET_NAME>" (sh starts in a few ms, always a "quick" failure). */
  const runs = () => {
    try {
      return lines(readFileSync(log, "utf8"));
    } catch {
      return [];
    }
  };
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("repo3");
    log = join(repo.dir, "..", "exec.log");
    w = startWatch(repo, ["--only", "tcp_count", "--exec", `sh -c 'echo {digest} "$GADGET_NAME" >> ${log}; exit 1'`]);
  });
  afterAll(async () => {
    if (w && w.child.exitCode === null) w.child.kill("SIGKILL");
    await repo?.cleanup();
  });

  it("is reported as `[name] exited 1` and not restarted until the next rebuild", async () => {
    await w.waitFor(() => /^\[tcp_count\] exited 1$/m.test(w.stderr), "the exit line");
    expect(runs()).toEqual([`${digestOf(w, "tcp_count")} tcp_count`]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(runs()).toHaveLength(1);
    expect(w.stderr.match(/exited 1/g)).toHaveLength(1);
  });

  it("a crash loop is not restarted in a loop: after 3 quick failures, saves that change nothing start nothing; a change starts it", async () => {
    const src = counterFile(repo, "tcp_count");
    const text = await readFile(src, "utf8");
    // saves with the same content: the same image, rebuilt (all cache hits) — the next two start it again
    for (const n of [2, 3]) {
      await writeFile(src, text);
      await w.waitFor(() => runs().length === n && (w.stderr.match(/^\[tcp_count\] exited 1$/gm) ?? []).length === n, `start ${n} and its exit`);
    }
    const errMark = w.stderr.length;
    await writeFile(src, text);
    await w.waitFor(() => w.stderr.slice(errMark).includes("[tcp_count] not restarted: it failed 3 times in a row within 1 s of starting, and its image and command are unchanged"), "the hold line");
    await new Promise((r) => setTimeout(r, 500));
    expect(runs()).toHaveLength(3);
    expect(new Set(runs()).size).toBe(1);
    const outMark = lines(w.stdout).length;
    await setCounterMax(repo, "tcp_count", 17);
    // the instance's start (its log) and the ✓ line (gadget's stdout) travel by separate pipes: wait for both
    await w.waitFor(() => runs().length === 4 && digestOf(w, "tcp_count", outMark) !== undefined, "the start on a new image");
    expect(runs()[3]).not.toBe(runs()[0]);
    expect(runs()[3]).toBe(`${digestOf(w, "tcp_count")} tcp_count`);
    w.child.kill("SIGINT");
    expect(await w.exit).toBe(0);
  });
});

describe("gadget run --watch with watch.exec in the gadgetfile, on a terminal", () => {
  let repo: Repo;
  let log: string;
  let child: ChildProcess;
  let out = "";
  beforeAll(async () => {
    requireTool("clang");
    requireTool("script");
    repo = await copyFixture("repo3");
    log = join(repo.dir, "..", "exec.log");
    const gf = join(repo.dir, "gadgetfile.ts");
    const cmd = `node ${STANDIN} --log ${log} --say hi {name}`;
    await writeFile(gf, (await readFile(gf, "utf8")).replace("defaults:", `watch: { exec: [${JSON.stringify(cmd)}] },\n  defaults:`));
    // `script` gives gadget a pseudo-terminal: stdin and stdout are a TTY, and ^C is a real Ctrl-C
    // `exec`: whatever $SHELL script uses (dash as /bin/sh dies of the ^C itself) is replaced by gadget
    const inner = "exec " + [process.execPath, GADGET_BIN, "run", "--watch", "--only", "exec_count", "--oci-store", repo.store].map((a) => `'${a}'`).join(" ");
    child = spawn("script", ["-qfec", inner, "/dev/null"], { cwd: repo.dir, env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, stdio: ["pipe", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
  });
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    for (const r of repo ? starts(log) : []) if (alive(r.pid)) process.kill(r.pid, "SIGKILL");
    await repo?.cleanup();
  });

  it("the single instance gets the terminal, stdin included; ^C stops it and gadget exits 0", async () => {
    const t0 = Date.now();
    while (!(starts(log).length === 1 && out.includes("watching"))) {
      if (Date.now() - t0 > 30_000) throw new Error(`timed out; output:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const s = starts(log)[0]!;
    expect(s.argv!.at(-1)).toBe("exec_count");
    expect(s.stdinTTY).toBe(true);
    while (!/^hi\r?$/m.test(out)) {
      // unprefixed, straight to the terminal
      if (Date.now() - t0 > 30_000) throw new Error(`timed out waiting for the instance's output; output:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.stdin!.write("\x03");
    const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.on("exit", (c) => r(c))));
    expect(code).toBe(0);
    expect(eventsOf(log, s.pid).map((e) => e.signal ?? e.event)).toEqual(["SIGINT", "exit"]);
    expect(alive(s.pid)).toBe(false);
  });
});

describe("gadget run --exec: mistakes", () => {
  let repo: Repo;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("repo3");
  });
  afterAll(async () => {
    await repo?.cleanup();
  });

  it("usage errors exit 2 with one line: --exec without --watch, shell syntax, a bad grace, an --only that selects nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["--exec", "ig run {ref}"], /^Error: invalid usage: --exec needs --watch\nhint: gadget run --watch --exec 'ig run \{ref\}'\n$/],
      [["--watch", "--exec", "ig run {ref} | less"], /^Error: invalid usage: invalid --exec "ig run \{ref\} \| less": \| is shell syntax, and the command runs without a shell\nhint: run it through a shell: sh -c/],
      [["--watch", "--exec", "ig run {ref}", "--exec-grace", "soon"], /^Error: invalid usage: invalid --exec-grace "soon": expected a duration/],
      [["--watch", "--only", "exce_count"], /^Error: no such gadget \(--only exce_count\): "exce_count" matches no gadget's name or folder\nhint: gadgets: exec_count, open_count, tcp_count\n$/],
    ];
    for (const [args, err] of cases) {
      const r = await repo.run(["run", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(err);
      expect(r.stdout).toBe("");
    }
  });

  it("a command in gadgetfile watch.exec with shell syntax names the gadgetfile line; a missing program and a store ig will not read are reported", async () => {
    const gf = join(repo.dir, "gadgetfile.ts");
    const good = await readFile(gf, "utf8");
    await writeFile(gf, good.replace("defaults:", `watch: { exec: ["ig run {ref} && echo done"] },\n  defaults:`));
    const w = startWatch(repo, ["--only", "exec_count"]);
    try {
      await w.waitFor(() => w.stderr.includes("watching"), "the watcher");
      expect(w.stderr).toMatch(/^Error: invalid gadgetfile \(gadgetfile\.ts:5: watch\.exec\[0\]\): & is shell syntax, and the command runs without a shell$/m);
      // the fix is picked up: a program that does not exist, run as ig would be
      await writeFile(gf, good.replace("defaults:", `watch: { exec: ["/nonexistent/bin/ig run {ref}"] },\n  defaults:`));
      await w.waitFor(() => w.stderr.includes("Error: cannot start /nonexistent/bin/ig"), "the spawn error");
      expect(w.stderr).toMatch(/^Error: cannot start \/nonexistent\/bin\/ig \(--exec, \[exec_count\]\): not found\nhint: is it installed and on PATH\?/m);
      const igStore = process.getuid!() === 0 ? "/var/lib/ig/oci-store" : join(process.env.HOME!, ".ig", "oci-store");
      expect(w.stderr).toContain(`warning: "/nonexistent/bin/ig run {ref}" runs ig, which reads the store ${igStore}; gadget writes to ${repo.store}\nhint: `);
      w.child.kill("SIGINT");
      expect(await w.exit).toBe(0);
    } finally {
      if (w.child.exitCode === null) w.child.kill("SIGKILL");
      await writeFile(gf, good);
    }
  });
});
