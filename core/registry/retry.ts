/**
 * Retries as a wrapper around one exchange with the registry: connection errors and 408/429/5xx
 * answers are tried again with exponential backoff and jitter (Retry-After honoured, capped),
 * as long as the request can be replayed and the client's deadline has not passed.
 */
import type { Dispatcher } from "undici";
import { isRetryableNetworkError } from "./errors.js";
import { drain } from "./body.js";

export interface RetryPolicy {
  /** Extra attempts after the first (default 4). */
  retries: number;
  /** First backoff delay in ms (default 200), doubled each time, with jitter. */
  baseDelayMs: number;
  /** Longest single wait, including Retry-After (default 10 000). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 200, maxDelayMs: 10_000 };
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData["body"];
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** False for a request whose body cannot be sent again (a stream). */
  enabled: boolean;
  /** The client's deadline: waits end early when it passes. */
  signal: AbortSignal;
  onRetry?: () => void;
  /** The error to throw for a connection failure; `exhausted` when retries were used up on it. */
  fail: (e: unknown, exhausted: boolean) => Error;
}

/** Run `exchange` until it answers with something not worth retrying, or the retries are used up. */
export async function withRetries<T extends Answer>(exchange: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const more = o.enabled && attempt <= o.policy.retries;
    let res: T;
    try {
      res = await exchange();
    } catch (e) {
      if (!isRetryableNetworkError(e)) throw o.fail(e, false);
      if (!more) throw o.fail(e, o.enabled);
      o.onRetry?.();
      await sleep(backoff(o.policy, attempt), o.signal);
      continue;
    }
    if (!more || !RETRY_STATUS.has(res.status)) return res;
    const wait = retryAfterMs(header(res, "retry-after"));
    await drain(res);
    o.onRetry?.();
    await sleep(Math.min(wait ?? backoff(o.policy, attempt), o.policy.maxDelayMs), o.signal);
  }
}

function header(res: Answer, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function backoff(policy: RetryPolicy, attempt: number): number {
  const d = policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.min(policy.maxDelayMs, d * (0.75 + Math.random() * 0.5));
}

export function retryAfterMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** Wait ms, or less when the signal aborts first (the next request then fails at once). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      r();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
