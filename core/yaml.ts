/**
 * The `yaml` library, loaded on first use (it costs ~50 ms to import, and most commands never
 * parse YAML). Synchronous, so parsers stay synchronous.
 *
 * One error format for every YAML file gadget reads (gadget.yaml, build.yaml), whichever code
 * path parses it: `invalid YAML (<file>:<line>:<col>): <why>` with a hint.
 */
import { createRequire } from "node:module";
import { GadgetError, type ErrorCode } from "./errors.js";

type YamlModule = typeof import("yaml");
let cached: YamlModule | undefined;

export function yaml(): YamlModule {
  cached ??= createRequire(import.meta.url)("yaml") as YamlModule;
  return cached;
}

/** A YAML library error (syntax, or too many aliases) as `invalid YAML (<which>:<line>:<col>): <why>`. */
export function yamlError(e: unknown, which: string, code: ErrorCode): GadgetError {
  const err = e as Error & { linePos?: { line: number; col: number }[] };
  const pos = err?.linePos?.[0];
  const why = String(err?.message ?? e).split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
  const aliases = /alias/i.test(why) && !pos;
  return new GadgetError({
    what: "invalid YAML",
    which: pos ? `${which}:${pos.line}:${pos.col}` : which,
    why,
    hint: aliases ? "use fewer YAML aliases" : "fix the YAML syntax at that line",
    code,
    location: { file: which, ...(pos ? { line: pos.line, column: pos.col } : {}) },
    cause: e,
  });
}

/** Parse one YAML document (plain JS values); errors are `invalid YAML (<which>:<line>:<col>): …`. */
export function parseYaml(text: string, which: string, code: ErrorCode): unknown {
  const y = yaml();
  const doc = y.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], which, code);
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (e) {
    throw yamlError(e, which, code);
  }
}
