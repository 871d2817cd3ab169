/**
 * Child-process supervision for `gadget run --watch --exec` (issue 21): the thin I/O edge. Each
 * slot (a gadget × command) holds at most one instance. An instance is spawned detached, so it
 * leads its own process group (and session): stopping it signals the whole group — `sudo ig run …`
 * and whatever it started go too — with SIGINT, then SIGTERM after the grace period, then SIGKILL,
 * and waits until no process of the group is left. A new instance starts only after the previous
 * one of its slot is gone. What to start and when is decided elsewhere (exec-policy.ts); how it
 * looks is the caller's (the CLI prefixes lines, prints exits).
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { StringDecoder } from "node:string_decoder";

/**
 * How an instance's stdio is connected: `terminal` — it gets gadget's stdin, stdout and stderr
 * (one instance on a TTY); `inherit` — stdout and stderr, no stdin; `lines` — stdout and stderr
 * come back line by line through `onLine` (several instances, prefixed by the caller).
 */
export type ExecStdio = "terminal" | "inherit" | "lines";

export interface ExecSpec {
  argv: readonly string[];
  env: Record<string, string>;
  cwd: string;
  stdio: ExecStdio;
}

export interface ExitInfo {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  uptimeMs: number;
}

export interface SupervisorHandlers {
  onStart?(id: string, pid: number, spec: ExecSpec): void;
  /** An instance ended by itself (not stopped by the supervisor). */
  onExit(id: string, exit: ExitInfo): void;
  /** The command could not be started at all (not found, not executable…). */
  onSpawnError(id: string, e: NodeJS.ErrnoException, spec: ExecSpec): void;
  /** `lines` stdio: one line of output, without its newline. */
  onLine?(id: string, stream: "stdout" | "stderr", line: string): void;
  /** A group did not stop within the grace period after `after`: `signal` is sent next. */
  onEscalate?(id: string, signal: NodeJS.Signals, after: NodeJS.Signals, graceMs: number): void;
}

interface Instance {
  pid: number;
  child: ChildProcess;
  startedAt: number;
  /** Resolves when the leader has exited (and been reaped). */
  exited: Promise<void>;
  hasExited: boolean;
  /** The supervisor is stopping it: its exit is not reported. */
  stopping: boolean;
}

interface Slot {
  instance?: Instance;
  /** Serializes stop/start on this slot. */
  queue: Promise<void>;
  /** Bumped by every request: a superseded request does nothing. */
  generation: number;
}

const STOP_SEQUENCE: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGKILL"];
/** How long to wait for a group to vanish after SIGKILL before giving up on it. */
const AFTER_KILL_MS = 5000;
const POLL_MS = 20;

/** Whether any process of group `pgid` is left (one we may not signal counts as left). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: gone already; EPERM: nothing in the group we may signal (e.g. root processes under sudo)
  }
}

export class ExecSupervisor {
  private readonly slots = new Map<string, Slot>();
  private closed = false;
  private readonly graceMs: number;
  private readonly h: SupervisorHandlers;
  /** Last resort if gadget exits without close(): no group outlives it. */
  private readonly onProcessExit = () => this.killAll();

  constructor(o: { graceMs: number; handlers: SupervisorHandlers }) {
    this.graceMs = o.graceMs;
    this.h = o.handlers;
    process.on("exit", this.onProcessExit);
  }

  /** Stop the slot's instance (if any), then start `spec` — unless a later request or close() came first. */
  run(id: string, spec: ExecSpec): Promise<void> {
    return this.enqueue(id, "start", async (slot, current) => {
      await this.stopInstance(id, slot);
      if (!current()) return;
      slot.instance = await this.start(id, spec);
    });
  }

  /** Stop the slot's instance, if any. */
  stop(id: string): Promise<void> {
    return this.enqueue(id, "stop", (slot) => this.stopInstance(id, slot));
  }

  /** Whether the slot's instance is running (its leader has not exited). */
  isRunning(id: string): boolean {
    const i = this.slots.get(id)?.instance;
    return i !== undefined && !i.hasExited;
  }

  /** Slot ids. */
  ids(): string[] {
    return [...this.slots.keys()];
  }

  /** Pids (= process group ids) of the instances still running. */
  pids(): number[] {
    return [...this.slots.values()].flatMap((s) => (s.instance && !s.instance.hasExited ? [s.instance.pid] : []));
  }

  /** Send a signal to every running instance's group (e.g. SIGWINCH to a terminal instance). */
  signalAll(signal: NodeJS.Signals): void {
    for (const s of this.slots.values()) if (s.instance && groupAlive(s.instance.pid)) signalGroup(s.instance.pid, signal);
  }

  /** Stop every instance and refuse new ones; resolves when every group is gone. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.slots.keys()].map((id) => this.stop(id)));
    process.off("exit", this.onProcessExit);
  }

  /** SIGKILL every group now (a second Ctrl-C, or gadget exiting). Synchronous. */
  killAll(): void {
    for (const s of this.slots.values()) {
      if (!s.instance) continue;
      s.instance.stopping = true;
      signalGroup(s.instance.pid, "SIGKILL");
    }
  }

  private enqueue(id: string, kind: "start" | "stop", work: (slot: Slot, current: () => boolean) => Promise<void>): Promise<void> {
    let slot = this.slots.get(id);
    if (!slot) {
      slot = { queue: Promise.resolve(), generation: 0 };
      this.slots.set(id, slot);
    }
    const s = slot;
    const gen = ++s.generation;
    const current = () => !this.closed && gen === s.generation;
    const next = s.queue.then(async () => {
      // a start superseded by a later request is skipped; a stop always runs (close() relies on it)
      if (kind === "start" && !current()) return;
      await work(s, current);
    });
    s.queue = next.catch(() => {});
    return next;
  }

  private async stopInstance(id: string, slot: Slot): Promise<void> {
    const inst = slot.instance;
    if (!inst) return;
    inst.stopping = true;
    const pgid = inst.pid;
    if (inst.hasExited && !groupAlive(pgid)) {
      slot.instance = undefined;
      return;
    }
    for (let i = 0; i < STOP_SEQUENCE.length; i++) {
      const sig = STOP_SEQUENCE[i]!;
      signalGroup(pgid, sig);
      const waitMs = sig === "SIGKILL" ? AFTER_KILL_MS : this.graceMs;
      if (await waitGone(inst, waitMs)) break;
      const after = STOP_SEQUENCE[i + 1];
      if (after) this.h.onEscalate?.(id, after, sig, this.graceMs);
    }
    if (slot.instance === inst) slot.instance = undefined;
  }

  private start(id: string, spec: ExecSpec): Promise<Instance | undefined> {
    const stdio: StdioOptions = spec.stdio === "terminal" ? ["inherit", "inherit", "inherit"] : spec.stdio === "inherit" ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"];
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(spec.argv[0]!, spec.argv.slice(1), { cwd: spec.cwd, env: spec.env, stdio, detached: true });
      } catch (e) {
        this.h.onSpawnError(id, e as NodeJS.ErrnoException, spec);
        resolve(undefined);
        return;
      }
      let onExited!: () => void;
      const inst: Instance = { pid: 0, child, startedAt: 0, exited: new Promise<void>((r) => (onExited = r)), hasExited: false, stopping: false };
      child.once("error", (e: NodeJS.ErrnoException) => {
        if (inst.pid !== 0) return; // errors after the spawn (a failed kill) change nothing here
        inst.hasExited = true;
        onExited();
        this.h.onSpawnError(id, e, spec);
        resolve(undefined);
      });
      child.once("spawn", () => {
        inst.pid = child.pid!;
        inst.startedAt = performance.now();
        if (spec.stdio === "lines") {
          forwardLines(child.stdout!, (l) => this.h.onLine?.(id, "stdout", l));
          forwardLines(child.stderr!, (l) => this.h.onLine?.(id, "stderr", l));
        }
        this.h.onStart?.(id, inst.pid, spec);
        resolve(inst);
      });
      child.once("exit", (code, signal) => {
        inst.hasExited = true;
        onExited();
        if (!inst.stopping && inst.pid !== 0) this.h.onExit(id, { pid: inst.pid, code, signal, uptimeMs: performance.now() - inst.startedAt });
      });
    });
  }
}

/** Wait until the leader has exited and no process of its group is left, at most `ms`. */
async function waitGone(inst: Instance, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  await Promise.race([inst.exited, timeout]);
  clearTimeout(timer);
  for (;;) {
    if (inst.hasExited && !groupAlive(inst.pid)) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, left)));
  }
}

/**
 * Split text into complete lines: `pending` is what was left of the previous chunk; returns the
 * complete lines (without "\n" or "\r\n") and what is left for the next one.
 */
export function splitLines(pending: string, chunk: string): { lines: string[]; pending: string } {
  const parts = (pending + chunk).split("\n");
  const rest = parts.pop()!;
  return { lines: parts.map((l) => l.replace(/\r$/, "")), pending: rest };
}

/** Call `line` for each complete line of a stream, and for a last unterminated one at its end. */
function forwardLines(stream: NodeJS.ReadableStream, line: (l: string) => void): void {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  const emit = (text: string) => {
    const r = splitLines(pending, text);
    pending = r.pending;
    for (const l of r.lines) line(l);
  };
  stream.on("data", (d: Buffer) => emit(decoder.write(d)));
  stream.on("end", () => {
    emit(decoder.end());
    if (pending !== "") line(pending);
    pending = "";
  });
}
