/**
 * The pure parts of `gadget run --watch --exec` (issue 21): splitting a command without a shell,
 * placeholders, the instance environment, durations, where ig reads its store, the restart
 * policy — and the supervisor's process-group stop on real processes (the stand-in command).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ExecCommandError, execEnv, expandPlaceholders, igStoreFor, placeholdersIn, splitCommand } from "../../core/engine/exec-command.js";
import { parseDuration } from "../../core/duration.js";
import { afterExit, CRASH_LOOP_LIMIT, decideExec, QUICK_EXIT_MS } from "../../core/engine/exec-policy.js";
import { ExecSupervisor, groupAlive, splitLines, type ExitInfo } from "../../core/engine/exec-supervisor.js";
import { parseExecFlags, parseExecGrace, showArgv } from "../../core/cli/exec-loop.js";
import { FIXTURES, tempDir } from "../helpers/cli.js";

const STANDIN = join(FIXTURES, "exec-standin.mjs");

function problem(f: () => unknown): ExecCommandError {
  try {
    f();
  } catch (e) {
    if (e instanceof ExecCommandError) return e;
    throw e;
  }
  throw new Error("expected an ExecCommandError");
}

describe("exec command: splitting without a shell", () => {
  it("splits words on blanks, keeps quoted text together, and expands nothing", () => {
    expect(splitCommand("ig run {ref}")).toEqual(["ig", "run", "{ref}"]);
    expect(splitCommand("  ig   run\t{ref} ")).toEqual(["ig", "run", "{ref}"]);
    expect(splitCommand(`ig run {ref} --filter 'proc.comm=cat sh' -o "json pretty"`)).toEqual(["ig", "run", "{ref}", "--filter", "proc.comm=cat sh", "-o", "json pretty"]);
    expect(splitCommand(String.raw`echo a\ b "q\"uote" 'it''s' ''`)).toEqual(["echo", "a b", 'q"uote', "its", ""]);
    expect(splitCommand("sh -c 'ig run {ref} | tee /tmp/$GADGET_NAME.log'")).toEqual(["sh", "-c", "ig run {ref} | tee /tmp/$GADGET_NAME.log"]);
    expect(splitCommand("awk '{print}' ~/x *.c")).toEqual(["awk", "{print}", "~/x", "*.c"]);
  });

  it("refuses shell syntax outside single quotes, with a hint to use sh -c", () => {
    for (const cmd of ["ig run {ref} | tee log", "ig run {ref}; echo done", "ig run {ref} > out", "ig run $REF", "ig run `x`", 'ig run "$REF"', "a && b"]) {
      const e = problem(() => splitCommand(cmd));
      expect(e.why, cmd).toMatch(/shell/);
      expect(e.hint, cmd).toMatch(/sh -c/);
    }
    expect(problem(() => splitCommand("ig run 'x")).why).toBe("unterminated ' quote");
    expect(problem(() => splitCommand('ig run "x')).why).toBe('unterminated " quote');
    expect(problem(() => splitCommand("   ")).why).toBe("the command is empty");
  });

  it("replaces placeholders inside each argument, never splitting a value", () => {
    const vars = { ref: "localhost:5000/a/b:dev", digest: "sha256:ab", name: "trace exec", dir: "/src/my gadgets/t" };
    expect(expandPlaceholders(["ig", "run", "{ref}", "--name={name}", "{dir}/x", "{digest}{digest}", "{other}", "{print}"], vars)).toEqual([
      "ig",
      "run",
      "localhost:5000/a/b:dev",
      "--name=trace exec",
      "/src/my gadgets/t/x",
      "sha256:absha256:ab",
      "{other}",
      "{print}",
    ]);
    expect([...placeholdersIn(["{ref}", "x{name}y", "{nope}"])].sort()).toEqual(["name", "ref"]);
    const e = problem(() => expandPlaceholders(["ig", "run", "{ref}"], { digest: "sha256:ab", name: "t", dir: "/t" }));
    expect(e.why).toMatch(/\{ref\} is used but gadget t has no tag/);
    expect(e.hint).toMatch(/tag/);
    expect(expandPlaceholders(["echo", "{digest}"], { digest: "sha256:ab", name: "t", dir: "/t" })).toEqual(["echo", "sha256:ab"]);
  });

  it("gives the instance gadget's environment plus GADGET_REF/DIGEST/NAME/DIR and the store", () => {
    const env = execEnv({ PATH: "/bin", GADGET_REF: "stale", X: undefined }, { ref: "r:1", digest: "sha256:d", name: "n", dir: "/d" }, "/s");
    expect(env).toEqual({ PATH: "/bin", GADGET_REF: "r:1", GADGET_DIGEST: "sha256:d", GADGET_NAME: "n", GADGET_DIR: "/d", GADGET_OCI_STORE: "/s" });
    expect("GADGET_REF" in execEnv({ GADGET_REF: "stale" }, { digest: "sha256:d", name: "n", dir: "/d" }, "/s")).toBe(false);
  });

  it("parses durations and the --exec flags, and shows argv re-quoted", () => {
    expect(parseDuration("3s")).toBe(3000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2")).toBe(2000);
    expect(parseDuration("1m")).toBe(60_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("3 seconds")).toBeUndefined();
    expect(parseDuration("-1s")).toBeUndefined();
    expect(parseExecGrace(undefined)).toBe(3000);
    expect(() => parseExecGrace("soon")).toThrow(/invalid --exec-grace "soon"/);
    expect(parseExecFlags(["ig run {ref}"])).toEqual([{ text: "ig run {ref}", argv: ["ig", "run", "{ref}"] }]);
    expect(() => parseExecFlags(["ig run {ref} | less"])).toThrow(/invalid --exec "ig run \{ref\} \| less": \| is shell syntax/);
    expect(showArgv(["sh", "-c", "ig run x | tee y", "it's"])).toBe(`sh -c 'ig run x | tee y' 'it'\\''s'`);
  });

  it("knows where ig reads its store (ig has no setting for it)", () => {
    const user = { uid: 1000, home: "/home/u", userHome: "/home/u" };
    expect(igStoreFor(["ig", "run", "{ref}"], user)).toBe("/home/u/.ig/oci-store");
    expect(igStoreFor(["/usr/local/bin/ig", "run", "{ref}"], user)).toBe("/home/u/.ig/oci-store");
    expect(igStoreFor(["sudo", "-E", "ig", "run", "{ref}"], user)).toBe("/var/lib/ig/oci-store");
    expect(igStoreFor(["sudo", "-E", "ig", "run", "--oci-store-user", "{ref}"], user)).toBe("/home/u/.ig/oci-store");
    expect(igStoreFor(["ig", "run", "{ref}"], { uid: 0, home: "/root" })).toBe("/var/lib/ig/oci-store");
    expect(igStoreFor(["ig", "run", "--oci-store-user", "{ref}"], { uid: 0, home: "/root" })).toBeUndefined();
    expect(igStoreFor(["node", "x.mjs", "{ref}"], user)).toBeUndefined();
  });

  it("splits output into lines across chunks", () => {
    expect(splitLines("", "a\nb")).toEqual({ lines: ["a"], pending: "b" });
    expect(splitLines("b", "c\r\nd\n")).toEqual({ lines: ["bc", "d"], pending: "" });
    expect(splitLines("x", "")).toEqual({ lines: [], pending: "x" });
  });
});

describe("exec policy: what a build starts", () => {
  const ok = (digest: string, argv = ["ig", "run", "r"]) => ({ ok: true as const, argv, digest });
  const hist = (o: Partial<{ digest: string; running: boolean; quickFailures: number; argv: string[] }> = {}) => ({ argv: ["ig", "run", "r"], digest: "d1", running: true, quickFailures: 0, ...o });

  it("starts the first instance, restarts on a new image or command, keeps an unchanged one", () => {
    expect(decideExec(undefined, ok("d1"))).toEqual({ action: "start" });
    expect(decideExec(hist(), ok("d1"))).toEqual({ action: "keep" });
    expect(decideExec(hist(), ok("d2"))).toEqual({ action: "restart" });
    expect(decideExec(hist(), ok("d1", ["ig", "run", "r", "-o", "json"]))).toEqual({ action: "restart" });
  });

  it("a failed build keeps the running instance", () => {
    expect(decideExec(hist(), { ok: false })).toEqual({ action: "keep-failed", running: true });
    expect(decideExec(hist({ running: false }), { ok: false })).toEqual({ action: "keep-failed", running: false });
    expect(decideExec(undefined, { ok: false })).toEqual({ action: "keep-failed", running: false });
  });

  it("an instance that exited starts again on the next build; a crash loop only when the image or command changes", () => {
    expect(decideExec(hist({ running: false, quickFailures: 1 }), ok("d1"))).toEqual({ action: "start" });
    expect(decideExec(hist({ running: false, quickFailures: CRASH_LOOP_LIMIT }), ok("d1"))).toEqual({ action: "hold", quickFailures: CRASH_LOOP_LIMIT });
    expect(decideExec(hist({ running: false, quickFailures: CRASH_LOOP_LIMIT }), ok("d2"))).toEqual({ action: "start" });
    expect(decideExec(hist({ running: false, quickFailures: CRASH_LOOP_LIMIT }), ok("d1", ["ig", "run", "r2"]))).toEqual({ action: "start" });
  });

  it("counts quick failures in a row; living a while or exiting 0 resets the count", () => {
    expect(afterExit(0, { code: 1, signal: null, uptimeMs: 50 })).toBe(1);
    expect(afterExit(2, { code: null, signal: "SIGSEGV", uptimeMs: 50 })).toBe(3);
    expect(afterExit(2, { code: 1, signal: null, uptimeMs: QUICK_EXIT_MS + 1 })).toBe(0);
    expect(afterExit(2, { code: 0, signal: null, uptimeMs: 10 })).toBe(0);
  });
});

describe("exec supervisor (real processes)", () => {
  type Rec = { event: string; pid: number; t: number; signal?: string; child?: number; argv?: string[]; code?: number };
  const read = (log: string): Rec[] => {
    try {
      return readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Rec);
    } catch {
      return [];
    }
  };
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  };
  async function until(pred: () => boolean, what: string): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > 15_000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("stops a group that ignores SIGINT and SIGTERM with SIGKILL after the grace period, grandchild included, then starts the next", async () => {
    const { dir, cleanup } = await tempDir("gadget-exec-sup-");
    const log = join(dir, "log");
    const events: string[] = [];
    const exits: ExitInfo[] = [];
    const sup = new ExecSupervisor({
      graceMs: 200,
      handlers: {
        onStart: (id, pid) => events.push(`start ${id} ${pid}`),
        onExit: (_id, e) => exits.push(e),
        onSpawnError: (id, e) => events.push(`error ${id} ${e.code}`),
        onEscalate: (id, sig, after) => events.push(`escalate ${id} ${after}→${sig}`),
      },
    });
    try {
      const spec = (n: string) => ({ argv: [process.execPath, STANDIN, "--log", log, "--ignore-sigint", "--ignore-sigterm", "--grandchild", n], env: { ...(process.env as Record<string, string>) }, cwd: dir, stdio: "inherit" as const });
      await sup.run("a", spec("one"));
      await until(() => read(log).some((r) => r.event === "grandchild"), "the grandchild");
      const first = read(log).find((r) => r.event === "start")!;
      const grandchild = read(log).find((r) => r.event === "grandchild")!.child!;
      expect(sup.isRunning("a")).toBe(true);
      expect(groupAlive(first.pid)).toBe(true);
      await sup.run("a", spec("two"));
      await until(() => read(log).filter((r) => r.event === "start").length === 2, "the second start");
      const recs = read(log);
      const second = recs.filter((r) => r.event === "start")[1]!;
      expect(second.argv!.at(-1)).toBe("two");
      // SIGINT, then SIGTERM, both ignored; SIGKILL took the whole group before the next start
      expect(recs.filter((r) => r.pid === first.pid && r.event === "signal").map((r) => r.signal)).toEqual(["SIGINT", "SIGTERM"]);
      expect(events.filter((e) => e.startsWith("escalate"))).toEqual(["escalate a SIGINT→SIGTERM", "escalate a SIGTERM→SIGKILL"]);
      expect(alive(first.pid)).toBe(false);
      expect(alive(grandchild)).toBe(false);
      expect(second.t).toBeGreaterThan(recs.find((r) => r.pid === first.pid && r.signal === "SIGTERM")!.t);
      expect(exits).toEqual([]); // stopped by the supervisor: not reported as exiting by itself
      const secondGrandchild = (await (async () => {
        await until(() => read(log).filter((r) => r.event === "grandchild").length === 2, "the second grandchild");
        return read(log).filter((r) => r.event === "grandchild")[1]!.child!;
      })());
      await sup.close();
      expect(alive(second.pid)).toBe(false);
      expect(alive(secondGrandchild)).toBe(false);
      expect(sup.pids()).toEqual([]);
      await sup.run("a", spec("three")); // closed: starts nothing
      expect(read(log).filter((r) => r.event === "start")).toHaveLength(2);
    } finally {
      sup.killAll();
      await cleanup();
    }
  });

  it("reports an instance that exits by itself, and a command that cannot start", async () => {
    const { dir, cleanup } = await tempDir("gadget-exec-sup-");
    const log = join(dir, "log");
    const exits: ExitInfo[] = [];
    const errors: string[] = [];
    const lines: string[] = [];
    const sup = new ExecSupervisor({ graceMs: 200, handlers: { onExit: (_id, e) => exits.push(e), onSpawnError: (id, e) => errors.push(`${id} ${e.code}`), onLine: (id, s, l) => lines.push(`${id} ${s} ${l}`) } });
    try {
      const env = { ...(process.env as Record<string, string>) };
      await sup.run("x", { argv: [process.execPath, STANDIN, "--log", log, "--exit-after", "0", "--code", "3", "--say", "hello"], env, cwd: dir, stdio: "lines" });
      await until(() => exits.length === 1, "the exit");
      expect(exits[0]).toMatchObject({ code: 3, signal: null });
      expect(sup.isRunning("x")).toBe(false);
      await until(() => lines.length === 2, "the output lines");
      expect(lines.sort()).toEqual(["x stderr err hello", "x stdout hello"]);
      await sup.run("y", { argv: ["gadget-no-such-command-xyz", "run"], env, cwd: dir, stdio: "inherit" });
      expect(errors).toEqual(["y ENOENT"]);
      expect(sup.isRunning("y")).toBe(false);
    } finally {
      await sup.close();
      await cleanup();
    }
  });
});
