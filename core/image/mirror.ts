/**
 * `gadget image mirror`: copy many images into one registry (under an optional prefix) with
 * bounded concurrency. Each request is retried with backoff on 408/429/5xx by the registry client
 * (registries answer 500 to concurrent manifest PUTs); an image that still fails is tried again
 * as a whole, up to `attempts` times, before it counts as failed. What the destination has is
 * skipped, so a rerun uploads nothing. The caller sees events per image (live lines) and gets one
 * result per image.
 */
import { GadgetError, usageError } from "../errors.js";
import { forEachLimit } from "../limit.js";
import { parseReference, type Reference } from "../oci/reference.js";
import type { TransferOptions } from "../registry/open.js";
import { sleep } from "../registry/retry.js";
import { copyImages, type CopiedImage } from "./copy-images.js";

export type MirrorOptions = Omit<TransferOptions, "reference"> & {
  references: string[];
  /** REGISTRY[/PREFIX] */
  to: string;
  /** Images copied at once (default 4). */
  jobs?: number;
  /** Whole-image attempts (default 3). */
  attempts?: number;
  /** First wait between whole-image attempts (default 1 s, doubled). */
  retryDelayMs?: number;
  skipSignatures?: boolean;
  onEvent?: (e: MirrorEvent) => void;
};

export type MirrorEvent =
  | { type: "start"; source: string; destination: string; attempt: number }
  | { type: "retry"; source: string; destination: string; attempt: number; error: string }
  /** A blob or manifest of the image landed (copied) or was found at the destination (skipped). */
  | { type: "progress"; source: string; destination: string; nodes: number; bytes: number }
  | { type: "done"; result: MirrorResult };

export interface MirrorResult {
  source: string;
  destination: string;
  ok: boolean;
  digest?: string;
  error?: string;
  attempts: number;
  copied?: number;
  skipped?: number;
  mounted?: number;
  signatures?: number;
}

export interface MirrorSummary {
  results: MirrorResult[];
  ok: number;
  failed: number;
}

/** `host[:port][/prefix…]` → the registry and the prefix (no scheme, no tag). */
export function parseMirrorTarget(to: string): { registry: string; prefix: string } {
  const t = to.replace(/\/+$/, "");
  if (!t || /^[a-z]+:\/\//i.test(t) || /[@\s]/.test(t)) throw usageError(`invalid --to ${JSON.stringify(to)}`, "write REGISTRY[/PREFIX], e.g. registry.example.com:5000/mirror");
  const i = t.indexOf("/");
  const registry = i < 0 ? t : t.slice(0, i);
  const prefix = i < 0 ? "" : t.slice(i + 1);
  if (!/[.:]/.test(registry) && registry !== "localhost") throw usageError(`--to ${JSON.stringify(to)} does not start with a registry host`, "write REGISTRY[/PREFIX]: the registry needs a dot or a port (e.g. localhost:5000)");
  if (prefix) {
    // the prefix must make valid repository names
    try {
      parseReference(`${registry}/${prefix}/x:latest`);
    } catch (e) {
      throw usageError(`invalid prefix in --to ${JSON.stringify(to)}: ${(e as GadgetError).why ?? (e as Error).message}`);
    }
  }
  return { registry, prefix };
}

/** Where a source lands: `<registry>/<prefix>/<its repository>:<tag>` (or `@digest`). */
export function mirrorDestination(source: Reference, target: { registry: string; prefix: string }): string {
  const repo = target.prefix ? `${target.prefix}/${source.repository}` : source.repository;
  const base = `${target.registry}/${repo}`;
  if (source.tag) return `${base}:${source.tag}`;
  return `${base}@${source.digest}`;
}

/** The references in a mirror list: one per line; blank lines and `#` comments skipped. */
export function parseMirrorList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l !== "");
}

export async function mirrorImages(opts: MirrorOptions): Promise<MirrorSummary> {
  if (opts.references.length === 0) throw usageError("no images to mirror", "give a file with one reference per line, or -- REF…");
  const target = parseMirrorTarget(opts.to);
  const jobs = opts.jobs ?? 4;
  const attempts = opts.attempts ?? 3;
  const retryDelay = opts.retryDelayMs ?? 1000;
  // every reference is checked before anything is copied
  const plan = opts.references.map((r) => {
    const ref = parseReference(r);
    return { source: r, destination: mirrorDestination(ref, target) };
  });
  const results: MirrorResult[] = new Array(plan.length);
  const { references: _r, to: _t, jobs: _j, attempts: _a, onEvent, retryDelayMs: _d, ...transfer } = opts;
  await forEachLimit(
    plan.map((p, i) => ({ ...p, i })),
    jobs,
    async ({ source, destination, i }) => {
      let last: unknown;
      let result: MirrorResult | undefined;
      let used = 0;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (opts.signal?.aborted) break;
        used = attempt;
        onEvent?.(attempt === 1 ? { type: "start", source, destination, attempt } : { type: "retry", source, destination, attempt, error: (last as Error).message });
        try {
          let nodes = 0;
          let bytes = 0;
          const r = await copyImages({
            ...transfer,
            source,
            destination,
            onNode: ({ desc, how }) => {
              nodes++;
              if (how === "copied") bytes += desc.size;
              onEvent?.({ type: "progress", source, destination, nodes, bytes });
            },
          });
          const img = r.images[0] as CopiedImage;
          result = { source, destination, ok: true, digest: img.digest, attempts: attempt, copied: img.copied, skipped: img.skipped, mounted: img.mounted, signatures: img.signatures.length };
          break;
        } catch (e) {
          last = e;
          if (e instanceof GadgetError && (e.code === "USAGE" || e.code === "NOT_FOUND" || e.code === "ABORTED")) break;
          if (attempt < attempts) await sleep(retryDelay * 2 ** (attempt - 1), opts.signal);
        }
      }
      result ??= { source, destination, ok: false, error: last instanceof Error ? last.message.split("\n")[0]! : String(last), attempts: used };
      results[i] = result;
      onEvent?.({ type: "done", result });
    },
  );
  const ok = results.filter((r) => r?.ok).length;
  return { results: results.filter(Boolean), ok, failed: plan.length - ok };
}
