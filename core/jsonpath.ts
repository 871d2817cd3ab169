/**
 * JSONPath for `gadget image inspect --jsonpath`, as ig evaluates it (github.com/PaesslerAG/jsonpath
 * with `$` prepended): `.key`, `['key']`, `[n]` (negative from the end), `[*]` / `.*`, `..key` /
 * `..*` (recursive descent), `[a,b]` unions and `[start:end]` slices. A path without wildcards,
 * recursion, unions or slices gives one value; otherwise the matches come as one flat list. A
 * missing key or index is an error, except below a wildcard (where it just matches nothing). Filter expressions (`[?(…)]`) are not supported.
 */
import { GadgetError } from "./errors.js";

type Step =
  | { kind: "key"; key: string; recursive: boolean }
  | { kind: "index"; index: number }
  | { kind: "wild"; recursive: boolean }
  | { kind: "union"; items: (string | number)[] }
  | { kind: "slice"; start?: number; end?: number };

function bad(path: string, why: string): GadgetError {
  return new GadgetError({ what: "invalid JSONPath", which: JSON.stringify(path), why, code: "USAGE", exitCode: 2 });
}

function parse(path: string): Step[] {
  const steps: Step[] = [];
  let i = 0;
  const s = path.startsWith("$") ? path.slice(1) : path;
  const ident = () => {
    const m = /^[^.[\]]+/.exec(s.slice(i));
    if (!m) throw bad(path, `expected a name at ${i}`);
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    if (s.startsWith("..", i)) {
      i += 2;
      if (s[i] === "*") {
        i++;
        steps.push({ kind: "wild", recursive: true });
      } else if (s[i] === "[") {
        throw bad(path, "recursive descent into a bracket is not supported");
      } else steps.push({ kind: "key", key: ident(), recursive: true });
    } else if (s[i] === ".") {
      i++;
      if (s[i] === "*") {
        i++;
        steps.push({ kind: "wild", recursive: false });
      } else steps.push({ kind: "key", key: ident(), recursive: false });
    } else if (s[i] === "[") {
      const close = s.indexOf("]", i);
      if (close < 0) throw bad(path, "unclosed [");
      const body = s.slice(i + 1, close).trim();
      i = close + 1;
      if (body === "*") steps.push({ kind: "wild", recursive: false });
      else if (body.startsWith("?") || body.startsWith("(")) throw bad(path, "filter and script expressions are not supported");
      else if (/^-?\d*:-?\d*$/.test(body)) {
        const [a, b] = body.split(":");
        steps.push({ kind: "slice", ...(a ? { start: Number(a) } : {}), ...(b ? { end: Number(b) } : {}) });
      } else {
        const items = body.split(",").map((x) => x.trim()).map((x) => {
          const q = /^'(.*)'$/.exec(x) ?? /^"(.*)"$/.exec(x);
          if (q) return q[1]!;
          if (/^-?\d+$/.test(x)) return Number(x);
          throw bad(path, `unexpected ${JSON.stringify(x)} in brackets`);
        });
        if (items.length === 1) {
          const it = items[0]!;
          steps.push(typeof it === "number" ? { kind: "index", index: it } : { kind: "key", key: it, recursive: false });
        } else steps.push({ kind: "union", items });
      }
    } else {
      // a path may start without a dot: `layers[0]`
      steps.push({ kind: "key", key: ident(), recursive: false });
    }
  }
  return steps;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const children = (v: unknown): unknown[] => (Array.isArray(v) ? v : isObject(v) ? Object.keys(v).sort().map((k) => v[k]) : []);
function descendants(v: unknown): unknown[] {
  const out = [v];
  for (const c of children(v)) out.push(...descendants(c));
  return out;
}

/** Evaluate `path` on `value` (already parsed JSON). */
export function jsonPath(value: unknown, path: string): unknown {
  const steps = parse(path);
  const multi = steps.some((s) => s.kind === "wild" || s.kind === "union" || s.kind === "slice" || (s.kind === "key" && s.recursive));
  let current: unknown[] = [value];
  // a missing key or index is an error until a wildcard, union, slice or recursion has fanned out
  let fanned = false;
  for (const step of steps) {
    const next: unknown[] = [];
    for (const v of current) {
      switch (step.kind) {
        case "key":
          if (step.recursive) {
            for (const d of descendants(v)) if (isObject(d) && step.key in d) next.push(d[step.key]);
          } else if (isObject(v) && step.key in v) next.push(v[step.key]);
          else if (!fanned) throw new GadgetError({ what: "resolving JSONPath", which: JSON.stringify(path), why: `unknown key ${step.key}` });
          break;
        case "index": {
          const a = Array.isArray(v) ? v : undefined;
          const idx = a && step.index < 0 ? a.length + step.index : step.index;
          if (a && idx >= 0 && idx < a.length) next.push(a[idx]);
          else if (!fanned) throw new GadgetError({ what: "resolving JSONPath", which: JSON.stringify(path), why: a ? `index ${step.index} out of bounds` : `${JSON.stringify(step.index)} is not a key of an object` });
          break;
        }
        case "wild":
          if (step.recursive) for (const d of descendants(v).slice(1)) next.push(d);
          else next.push(...children(v));
          break;
        case "union":
          for (const it of step.items) {
            if (typeof it === "number" && Array.isArray(v)) {
              const idx = it < 0 ? v.length + it : it;
              if (idx >= 0 && idx < v.length) next.push(v[idx]);
            } else if (typeof it === "string" && isObject(v) && it in v) next.push(v[it]);
          }
          break;
        case "slice":
          if (Array.isArray(v)) next.push(...v.slice(step.start, step.end));
          break;
      }
    }
    current = next;
    if (step.kind === "wild" || step.kind === "union" || step.kind === "slice" || (step.kind === "key" && step.recursive)) fanned = true;
  }
  return multi ? current : current[0];
}
