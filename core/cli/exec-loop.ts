/**
 * The edit → run loop of `gadget run --watch --exec CMD` (issue 21), on the CLI side: it turns
 * each watch build into starts and restarts (exec-policy.ts decides, exec-supervisor.ts runs the
 * process groups) and prints what happens. One instance runs per gadget and command. With one
 * instance it gets gadget's terminal (stdin too, when both are TTYs); with several, their output
 * comes back line by line with a `[name]` prefix.
 */
import { homedir } from "node:os";
import { resolve } from "node:path";
import { GadgetError, usageError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { formatError } from "./output.js";
import type { GadgetRunResult } from "../engine/run-graph.js";
import type { Project } from "../engine/project.js";
import { ExecCommandError, execEnv, expandPlaceholders, igStoreFor, splitCommand, type ExecVars } from "../engine/exec-command.js";
import { parseDuration } from "../duration.js";
import { afterExit, decideExec, QUICK_EXIT_MS, type SlotHistory } from "../engine/exec-policy.js";
import { ExecSupervisor, type ExecStdio } from "../engine/exec-supervisor.js";
import { gadgetfileError } from "../gadgetfile/validate.js";
import { displayPath } from "../gadgetfile/bundle.js";

export const DEFAULT_EXEC_GRACE_MS = 3000;

/** A command template: the text as written and its argv (placeholders not yet replaced). */
export interface ExecTemplate {
  text: string;
  argv: string[];
}

/** `--exec` values → templates; a command that cannot be split is a usage error. */
export function parseExecFlags(texts: readonly string[]): ExecTemplate[] {
  return texts.map((text) => {
    try {
      return { text, argv: splitCommand(text) };
    } catch (e) {
      if (e instanceof ExecCommandError) throw usageError(`invalid --exec ${JSON.stringify(text)}: ${e.why}`, e.hint);
      throw e;
    }
  });
}

export function parseExecGrace(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EXEC_GRACE_MS;
  const ms = parseDuration(text);
  if (ms === undefined) throw usageError(`invalid --exec-grace ${JSON.stringify(text)}: expected a duration such as 3s, 500ms or 1m`);
  return ms;
}

/** How a command line is shown: arguments with spaces or quotes are single-quoted. */
export function showArgv(argv: readonly string[]): string {
  return argv.map((a) => (a === "" || /[\s'"\\$`|;&<>]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(" ");
}

interface Slot extends SlotHistory {
  gadget: string;
  label: string;
}

export class ExecLoop {
  private templates: ExecTemplate[];
  private readonly fromFlags: boolean;
  private readonly slots = new Map<string, Slot>();
  private readonly supervisor: ExecSupervisor;
  private gadgetsInScope = 0;
  private readonly warnedStore = new Set<string>();
  private closing = false;

  constructor(
    private readonly ctx: CommandContext,
    private readonly o: { templates: ExecTemplate[]; graceMs: number; storeDir: string },
  ) {
    this.templates = o.templates;
    this.fromFlags = o.templates.length > 0;
    this.supervisor = new ExecSupervisor({
      graceMs: o.graceMs,
      handlers: {
        onStart: (id, pid, spec) => ctx.warn(`[${this.label(id)}] started ${showArgv(spec.argv)} (pid ${pid})`),
        onExit: (id, exit) => {
          const slot = this.slots.get(id);
          if (slot) {
            slot.running = false;
            slot.quickFailures = afterExit(slot.quickFailures, exit);
          }
          ctx.warn(`[${this.label(id)}] exited ${exit.signal ? `on ${exit.signal}` : String(exit.code)}`);
        },
        onSpawnError: (id, e, spec) => {
          const slot = this.slots.get(id);
          if (slot) {
            slot.running = false;
            slot.quickFailures += 1;
          }
          const why = e.code === "ENOENT" ? "not found" : e.code === "EACCES" ? "permission denied" : e.message;
          ctx.warn(formatError(new GadgetError({ what: `cannot start ${spec.argv[0]}`, which: `--exec, [${this.label(id)}]`, why, hint: e.code === "ENOENT" ? "is it installed and on PATH? (the command runs without a shell unless it is sh -c '…')" : undefined }), ctx.verbose));
        },
        onLine: (id, stream, line) => (stream === "stdout" ? ctx.out(`[${this.label(id)}] ${line}`) : ctx.warn(`[${this.label(id)}] ${line}`)),
        onEscalate: (id, signal, after, graceMs) => ctx.warn(`[${this.label(id)}] still running ${graceMs / 1000} s after ${after}: sending ${signal}`),
      },
    });
  }

  /** Whether there is anything to run (flags, or the gadgetfile's watch.exec). */
  get active(): boolean {
    return this.templates.length > 0;
  }

  /**
   * The gadgetfile was (re)loaded: take its `watch.exec` when no --exec was given, and note how
   * many gadgets run. Throws (the watcher reports it) on a command that cannot be split.
   */
  onLoad(project: Project): void {
    if (!this.fromFlags) {
      const list = project.gadgetfile.config.watch?.exec ?? [];
      this.templates = list.map((text, i) => {
        try {
          return { text, argv: splitCommand(text) };
        } catch (e) {
          if (e instanceof ExecCommandError) throw gadgetfileError(displayPath(project.gadgetfile.file), project.gadgetfile.source, ["watch", "exec", i], e.why, e.hint);
          throw e;
        }
      });
      // commands dropped from the gadgetfile stop
      for (const [id, slot] of this.slots) if (commandIndex(id) >= this.templates.length) this.forget(id, slot);
    }
    this.gadgetsInScope = project.gadgets.length; // --only already narrowed the project
    this.warnStoreMismatch();
  }

  /** After each build: start, restart or keep each gadget's instances. */
  onResults(results: GadgetRunResult[], build: { all: boolean }, imageDigest: (r: GadgetRunResult) => string | undefined, imageReference: (r: GadgetRunResult) => string | undefined): void {
    if (this.closing || this.templates.length === 0) return;
    if (build.all) {
      // gadgets gone from the gadgetfile (or from --only's reach) stop
      const names = new Set(results.map((r) => r.gadget.name));
      for (const [id, slot] of this.slots) if (!names.has(slot.gadget)) this.forget(id, slot);
    }
    const stdio = this.stdio();
    for (const r of results) {
      const digest = r.ok ? imageDigest(r) : undefined;
      if (r.ok && digest === undefined) {
        this.ctx.warn(`[${r.gadget.name}] no image was built by this task: nothing to run`);
        continue;
      }
      const vars: ExecVars | undefined = digest === undefined ? undefined : { digest, name: r.gadget.name, dir: r.gadget.dir, ...(imageReference(r) ? { ref: imageReference(r)! } : {}) };
      this.templates.forEach((t, i) => this.apply(r.gadget.name, i, t, vars, stdio));
    }
  }

  /** Stop every instance and start no more; resolves when every process group is gone. */
  async shutdown(): Promise<void> {
    this.closing = true;
    await this.supervisor.close();
  }

  /** SIGKILL every instance's group at once (a second Ctrl-C). */
  killNow(): void {
    this.supervisor.killAll();
  }

  /** Forward a signal (SIGWINCH) to the running instances. */
  forward(signal: NodeJS.Signals): void {
    this.supervisor.signalAll(signal);
  }

  private apply(gadget: string, index: number, t: ExecTemplate, vars: ExecVars | undefined, stdio: ExecStdio): void {
    const id = `${gadget}\0${index}`;
    const label = index === 0 ? gadget : `${gadget}#${index + 1}`;
    const prev = this.slots.get(id);
    if (!vars) {
      const d = decideExec(prev, { ok: false });
      if (d.action === "keep-failed" && d.running && prev) this.ctx.warn(`[${label}] build failed: the previous instance keeps running (${short(prev.digest)})`);
      return;
    }
    let argv: string[];
    try {
      argv = expandPlaceholders(t.argv, vars);
    } catch (e) {
      if (!(e instanceof ExecCommandError)) throw e;
      this.ctx.warn(formatError(new GadgetError({ what: "cannot start the --exec command", which: `[${label}] ${t.text}`, why: e.why, hint: e.hint }), this.ctx.verbose));
      return;
    }
    const d = decideExec(prev, { ok: true, argv, digest: vars.digest });
    if (d.action === "keep" || d.action === "keep-failed") return;
    if (d.action === "hold") {
      this.ctx.warn(`[${label}] not restarted: it failed ${d.quickFailures} times in a row within ${QUICK_EXIT_MS / 1000} s of starting, and its image and command are unchanged`);
      return;
    }
    const changed = !prev || prev.digest !== vars.digest || prev.argv.join("\0") !== argv.join("\0");
    this.slots.set(id, { gadget, label, argv, digest: vars.digest, running: true, quickFailures: changed ? 0 : (prev?.quickFailures ?? 0) });
    const spec = { argv, env: execEnv(this.ctx.env, vars, resolve(this.o.storeDir)), cwd: this.ctx.cwd, stdio };
    this.supervisor.run(id, spec).catch((e: unknown) => this.ctx.warn(formatError(e, this.ctx.verbose)));
  }

  /** One instance: it gets the terminal (stdin too) on a TTY; several: prefixed lines. */
  private stdio(): ExecStdio {
    if (this.gadgetsInScope * this.templates.length > 1) return "lines";
    const stdinTTY = Boolean((this.ctx.stdin as { isTTY?: boolean }).isTTY);
    return stdinTTY && this.ctx.stdoutIsTTY ? "terminal" : "inherit";
  }

  private label(id: string): string {
    const slot = this.slots.get(id);
    if (slot) return slot.label;
    const i = commandIndex(id);
    const g = id.slice(0, id.indexOf("\0"));
    return i === 0 ? g : `${g}#${i + 1}`;
  }

  private forget(id: string, slot: Slot): void {
    void this.supervisor.stop(id).then(() => {
      if (this.slots.get(id) === slot) this.slots.delete(id);
    });
  }

  /** ig has no setting for its store's path: say so when the command's ig will not see gadget's store. */
  private warnStoreMismatch(): void {
    const uid = process.getuid?.() ?? -1;
    const home = this.ctx.env.HOME || homedir();
    const userHome = uid === 0 ? (this.ctx.env.SUDO_USER ? undefined : home) : home;
    const ours = resolve(this.o.storeDir);
    for (const t of this.templates) {
      const theirs = igStoreFor(t.argv, { uid, home, ...(userHome !== undefined ? { userHome } : {}) });
      if (theirs === undefined || resolve(theirs) === ours || this.warnedStore.has(t.text)) continue;
      this.warnedStore.add(t.text);
      this.ctx.warn(`warning: ${JSON.stringify(t.text)} runs ig, which reads the store ${theirs}; gadget writes to ${ours}`);
      this.ctx.warn(
        theirs === "/var/lib/ig/oci-store"
          ? "hint: ig as root reads /var/lib/ig/oci-store: build there (--oci-store /var/lib/ig/oci-store), or let ig read your store with sudo -E ig run --oci-store-user {ref}"
          : `hint: build into ig's store: --oci-store ${theirs} (or unset GADGET_OCI_STORE)`,
      );
    }
  }
}

function commandIndex(id: string): number {
  return Number(id.slice(id.indexOf("\0") + 1));
}

function short(digest: string): string {
  return digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, "$1");
}
