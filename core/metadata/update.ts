/**
 * `--update-metadata`: create or extend gadget.yaml from the eBPF object, as ig does — name,
 * description and URL placeholders, `datasources` for GADGET_TRACER markers (fields from the
 * event struct), `params.ebpf` for GADGET_PARAM variables (or, when the program uses no
 * GADGET_PARAM at all, for every global `const volatile` variable). Existing entries are kept
 * as written (comments and order preserved); only missing ones are added.
 */
import type { Document } from "yaml";
import { yaml, yamlError } from "../yaml.js";
import { GadgetError } from "../errors.js";
import { BtfKind } from "../btf/btf.js";
import type { BpfObject } from "../btf/object.js";
import { checkParamVar } from "./validate.js";

export const PLACEHOLDERS: [string, string][] = [
  ["name", "TODO: Fill the gadget name"],
  ["description", "TODO: Fill the gadget description"],
  ["homepageURL", "TODO: Fill the gadget homepage URL"],
  ["documentationURL", "TODO: Fill the gadget documentation URL"],
  ["sourceURL", "TODO: Fill the gadget source code URL"],
];

export interface UpdateResult {
  text: string;
  /** Dotted paths that were added. */
  added: string[];
}

/** Variables that become `params.ebpf` entries. */
export function paramVariables(obj: BpfObject): string[] {
  const marked = obj.markers.filter((m) => m.kind === "param" && !m.problem).map((m) => m.parts.join("___"));
  if (marked.length > 0) return marked.filter((n) => checkParamVar(obj, n) === undefined);
  return obj.globals.filter((g) => g.linkage === "global" && g.isConst && g.isVolatile && !g.name.startsWith("gadget_")).map((g) => g.name);
}

export function updateMetadata(existing: string | undefined, obj: BpfObject, which = "gadget.yaml"): UpdateResult {
  const doc: Document = existing !== undefined && existing.trim() !== "" ? yaml().parseDocument(existing) : new (yaml().Document)({});
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], which, "BAD_METADATA");
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  if (!yaml().isMap(doc.contents)) throw new GadgetError({ what: "invalid metadata file", which, why: "expected a YAML map at the top level", code: "BAD_METADATA" });
  const added: string[] = [];
  const setIfMissing = (path: string[], value: unknown) => {
    const cur = doc.getIn(path);
    if (cur === undefined || cur === null || cur === "") {
      doc.setIn(path, value);
      added.push(path.join("."));
    }
  };

  for (const [k, v] of PLACEHOLDERS) setIfMissing([k], v);

  for (const m of obj.markers) {
    if (m.kind !== "tracer" || m.problem || m.parts.length !== 3) continue;
    const [name, , structName] = m.parts as [string, string, string];
    const st = obj.btf.byName(structName, BtfKind.Struct);
    if (!st) continue;
    if (doc.getIn(["datasources", name, "fields"]) === undefined) {
      doc.setIn(["datasources", name, "fields"], doc.createNode({}));
      added.push(`datasources.${name}`);
    }
    for (const member of st.members ?? []) {
      if (!member.name) continue;
      setIfMissing(["datasources", name, "fields", member.name, "annotations", "description"], "TODO: Fill field description");
    }
  }

  for (const name of paramVariables(obj)) {
    const path = ["params", "ebpf", name];
    if (doc.getIn(path) !== undefined) continue;
    const g = obj.globals.find((x) => x.name === name);
    const entry: Record<string, string> = { key: name };
    if (g?.value !== undefined) entry.defaultValue = g.value;
    entry.description = "TODO: Fill parameter description";
    doc.setIn(path, doc.createNode(entry));
    added.push(path.join("."));
  }

  return { text: doc.toString({ lineWidth: 0 }), added };
}
