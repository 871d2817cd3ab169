import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { GadgetError, describeSystemError, usageError, withoutUserinfo } from "../../errors.js";
import { mirrorImages, parseMirrorList, type MirrorEvent, type MirrorResult } from "../../image/mirror.js";
import { transferOptionsFromFlags } from "../registry-options.js";
import { formatBytes } from "../progress.js";
import type { CommandContext } from "../context.js";

/** `-- REF… --to X --jobs N`: flags written after the references are taken as flags (a reference never starts with `-`). */
function splitTrailingFlags(tokens: string[]): { refs: string[]; to?: string; jobs?: string } {
  const refs: string[] = [];
  const out: { refs: string[]; to?: string; jobs?: string } = { refs };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const m = /^(--to|--jobs|-j)(?:=(.*))?$/.exec(t);
    if (!m) {
      if (t.startsWith("-")) throw usageError(`unknown flag after --: ${t}`, "only --to and --jobs may follow the references");
      refs.push(t);
      continue;
    }
    const value = m[2] ?? tokens[++i];
    if (value === undefined) throw usageError(`flag needs an argument: ${m[1]}`);
    if (m[1] === "--to") out.to = value;
    else out.jobs = value;
  }
  return out;
}

export function mirrorResultLine(r: MirrorResult): string {
  if (!r.ok) return `failed  ${withoutUserinfo(r.source)} → ${withoutUserinfo(r.destination)}: ${r.error} (${r.attempts} attempt${r.attempts === 1 ? "" : "s"})`;
  const parts = [`${r.copied} copied`, `${r.skipped} already there`];
  if (r.mounted) parts.push(`${r.mounted} mounted`);
  if (r.signatures) parts.push(`${r.signatures} signature tag${r.signatures === 1 ? "" : "s"}`);
  if (r.attempts > 1) parts.push(`${r.attempts} attempts`);
  return `ok      ${withoutUserinfo(r.source)} → ${withoutUserinfo(r.destination)}@${r.digest} (${parts.join(", ")})`;
}

/** Live lines on a TTY: one per image in flight, redrawn in place above nothing else. */
function liveLines(stream: NodeJS.WritableStream) {
  const inFlight = new Map<string, string>();
  let drawn = 0;
  const clear = () => {
    if (drawn > 0) stream.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    for (const line of inFlight.values()) stream.write(`${line}\n`);
    drawn = inFlight.size;
  };
  return {
    update(key: string, line: string | undefined, above?: string) {
      clear();
      if (above !== undefined) stream.write(`${above}\n`);
      if (line === undefined) inFlight.delete(key);
      else inFlight.set(key, line);
      draw();
    },
    finish: clear,
  };
}

export async function run(ctx: CommandContext): Promise<number> {
  let refs: string[];
  let to = ctx.flagString("to");
  let jobsText = ctx.flagString("jobs");
  if (ctx.dashDash !== undefined) {
    if (ctx.dashDash > 0) throw usageError("give either a FILE or -- REF…, not both", "usage: gadget image mirror FILE|-- REF… --to REGISTRY[/PREFIX]");
    const split = splitTrailingFlags(ctx.args);
    refs = split.refs;
    to = split.to ?? to;
    jobsText = split.jobs ?? jobsText;
  } else {
    if (ctx.args.length !== 1) throw usageError(`"gadget image mirror" takes one FILE (or -- REF…), got ${ctx.args.length} arguments`, "to name images on the command line, put them after --: gadget image mirror --to REGISTRY -- REF…");
    const file = ctx.args[0]!;
    let text: string;
    try {
      text = file === "-" ? await readStream(ctx.stdin) : await readFile(resolve(ctx.cwd, file), "utf8");
    } catch (e) {
      throw new GadgetError({ what: "reading the image list", which: file, why: describeSystemError(e), hint: "give a file with one image reference per line", exitCode: 2, code: "USAGE" });
    }
    refs = parseMirrorList(text);
  }
  if (refs.length === 0) throw usageError("no images to mirror", "give a file with one reference per line, or -- REF…");
  if (!to) throw usageError("--to is required", "usage: gadget image mirror FILE|-- REF… --to REGISTRY[/PREFIX]");
  let jobs: number | undefined;
  if (jobsText !== undefined) {
    jobs = Number(jobsText);
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw usageError(`invalid --jobs ${JSON.stringify(jobsText)}: expected a whole number from 1 to 64`);
  }
  const { reference: _unused, ...transfer } = transferOptionsFromFlags(ctx, refs[0]!);
  const json = ctx.flagBool("json");
  const tty = ctx.stderrIsTTY && !json;
  const live = tty ? liveLines(ctx.stderr) : undefined;
  ctx.interrupts?.doing(`mirroring ${refs.length} image${refs.length === 1 ? "" : "s"} to ${to}`);
  const onEvent = (e: MirrorEvent) => {
    if (json) return;
    if (e.type === "done") {
      const line = mirrorResultLine(e.result);
      if (live) live.update(e.result.source, undefined, line);
      else ctx.warn(line);
      return;
    }
    if (e.type === "progress") {
      live?.update(e.source, `copying ${withoutUserinfo(e.source)} → ${withoutUserinfo(e.destination)}… ${e.nodes} done, ${formatBytes(e.bytes)} sent`);
      return;
    }
    const text = e.type === "start" ? `copying ${withoutUserinfo(e.source)} → ${withoutUserinfo(e.destination)}…` : `retrying ${withoutUserinfo(e.source)} (attempt ${e.attempt}): ${e.error.split("\n")[0]}`;
    if (live) live.update(e.source, text);
    else if (e.type === "retry") ctx.warn(text);
  };
  const summary = await mirrorImages({ ...transfer, references: refs, to, ...(jobs !== undefined ? { jobs } : {}), skipSignatures: ctx.flagBool("skip-signatures"), onEvent });
  live?.finish();
  if (json) ctx.out(JSON.stringify(summary));
  else ctx.warn(`mirrored ${summary.ok} of ${summary.results.length} image${summary.results.length === 1 ? "" : "s"} to ${to}${summary.failed > 0 ? ` (${summary.failed} failed)` : ""}`);
  return summary.failed > 0 ? 1 : 0;
}

async function readStream(s: NodeJS.ReadableStream): Promise<string> {
  let out = "";
  for await (const c of s) out += c.toString();
  return out;
}
