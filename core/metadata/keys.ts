/**
 * gadget.yaml keys that ig does not know. ig decodes gadget.yaml into its GadgetMetadata struct
 * (pkg/metadata/v1) without strict mode, so a misspelt key (`descripton:`) is silently ignored;
 * we name it, with its line, as a warning. Pure: takes the YAML text.
 */
import type { Node, Pair } from "yaml";
import { yaml } from "../yaml.js";
import type { MetadataProblem } from "./validate.js";

/** ig's params.ParamDesc YAML keys. */
const PARAM_KEYS = ["key", "alias", "title", "defaultValue", "description", "isMandatory", "tags", "type", "valueHint", "possibleValues"];

interface Shape {
  /** Known keys, each with the shape of its value (undefined: anything). */
  keys?: Record<string, Shape | undefined>;
  /** A map whose keys are names (datasource, field, operator, param), each of this shape. */
  each?: Shape;
}

const PARAM: Shape = { keys: Object.fromEntries(PARAM_KEYS.map((k) => [k, undefined])) };
const FIELD: Shape = { keys: { annotations: undefined } };
const DATASOURCE: Shape = { keys: { annotations: undefined, fields: { each: FIELD } } };

/** ig's GadgetMetadata (pkg/metadata/v1/metadata.go). */
export const METADATA_SHAPE: Shape = {
  keys: {
    name: undefined,
    description: undefined,
    homepageURL: undefined,
    documentationURL: undefined,
    sourceURL: undefined,
    annotations: undefined,
    datasources: { each: DATASOURCE },
    params: { each: { each: PARAM } },
    gadgetParams: { each: PARAM },
  },
};

/** Top-level keys of ig's older metadata format (tracers/structs/ebpfParams), and where that content lives now. */
const LEGACY_KEYS: Record<string, string> = {
  ebpfParams: "params.ebpf",
  tracers: "datasources",
  snapshotters: "datasources",
  toppers: "datasources",
  structs: "datasources.<name>.fields",
};

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** The known key closest to a misspelt one, if any is close. */
function closest(key: string, known: string[]): string | undefined {
  const best = known.map((k) => [k, distance(key, k)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 4)) ? best[0] : undefined;
}

/** Unknown keys of gadget.yaml, as warnings naming the key path and its line. Invalid YAML gives none (parseMetadata reports it). */
export function unknownMetadataKeys(text: string): MetadataProblem[] {
  const y = yaml();
  const lines = new y.LineCounter();
  const doc = y.parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) return [];
  const out: MetadataProblem[] = [];
  const walk = (node: unknown, shape: Shape, path: string[]) => {
    if (!y.isMap(node)) return;
    for (const pair of node.items as Pair<Node, Node>[]) {
      const keyNode = pair.key;
      const key = y.isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) continue;
      const at = [...path, key];
      if (shape.each) {
        walk(pair.value, shape.each, at);
        continue;
      }
      const known = shape.keys ?? {};
      if (!Object.prototype.hasOwnProperty.call(known, key)) {
        const line = keyNode?.range ? lines.linePos(keyNode.range[0]).line : undefined;
        const near = closest(key, Object.keys(known));
        const legacy = path.length === 0 ? LEGACY_KEYS[key] : undefined;
        const advice = legacy
          ? `it is from ig's older metadata format; today's ig reads ${legacy}`
          : near
            ? `did you mean ${JSON.stringify(near)}?`
            : `known keys here: ${Object.keys(known).join(", ")}`;
        out.push({
          field: at.join("."),
          message: `unknown key ${JSON.stringify(at.join("."))} (ig ignores it; ${advice})`,
          ...(line ? { line } : {}),
        });
        continue;
      }
      const sub = known[key];
      if (sub) walk(pair.value, sub, at);
    }
  };
  walk(doc.contents, METADATA_SHAPE, []);
  return out;
}
