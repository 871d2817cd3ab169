/**
 * `--update-metadata`: create or extend gadget.yaml from the eBPF object, as ig's Populate does
 * (pkg/gadgets/run/types/metadata.go): name, description and URL placeholders; a datasource per
 * GADGET_TRACER (fields from its event struct), GADGET_MAPITER (fields from the map's key struct,
 * then its value struct) and GADGET_SNAPSHOTTER (fields from its struct); and `params.ebpf`
 * entries `{key: <var>, defaultValue: "", description: TODO…}` for every GADGET_PARAM variable.
 * A GADGET_TOPPER (which only ig's older, pre-datasource metadata knew) gets a datasource with
 * the fields of its hash map's value struct. Every marker is checked first with ig's rules and
 * words (markerProblems, checkParamVar); a problem is an error, as in ig. Existing entries are
 * kept as written (comments and order preserved); only missing ones are added.
 */
import type { Document } from "yaml";
import { yaml, yamlError } from "../yaml.js";
import { GadgetError } from "../errors.js";
import { BtfKind, type BtfType } from "../btf/btf.js";
import type { BpfObject } from "../btf/object.js";
import { assertValid, markerProblems, paramVarProblem, topperStruct, type MetadataProblem } from "./validate.js";

export const PLACEHOLDERS: [string, string][] = [
  ["name", "TODO: Fill the gadget name"],
  ["description", "TODO: Fill the gadget description"],
  ["homepageURL", "TODO: Fill the gadget homepage URL"],
  ["documentationURL", "TODO: Fill the gadget documentation URL"],
  ["sourceURL", "TODO: Fill the gadget source code URL"],
];

export const FIELD_DESCRIPTION = "TODO: Fill field description";
export const PARAM_DESCRIPTION = "TODO: Fill parameter description";

export interface UpdateResult {
  text: string;
  /** Dotted paths that were added. */
  added: string[];
}

/** Variables that become `params.ebpf` entries: those marked with GADGET_PARAM (ig's rule). */
export function paramVariables(obj: BpfObject): string[] {
  return obj.markers.filter((m) => m.kind === "param" && !m.problem).map((m) => m.parts.join("___"));
}

/** A datasource and the structs its fields come from, per marker. */
function datasources(obj: BpfObject): { name: string; structs: BtfType[] }[] {
  const out: { name: string; structs: BtfType[] }[] = [];
  const struct = (name: string | undefined) => (name === undefined ? undefined : obj.btf.byName(name, BtfKind.Struct));
  for (const m of obj.markers) {
    if (m.problem) continue;
    const structs: (BtfType | undefined)[] = [];
    if (m.kind === "tracer") structs.push(struct(m.parts[2]));
    else if (m.kind === "snapshotter") structs.push(struct(m.parts[1]));
    else if (m.kind === "topper") structs.push(struct(topperStruct(obj, m.parts[1]!)));
    else if (m.kind === "mapiter") {
      const map = obj.maps.find((x) => x.name === m.parts[1]);
      for (const id of [map?.keyTypeId, map?.valueTypeId]) structs.push(id === undefined ? undefined : obj.btf.get(id));
    } else continue;
    out.push({ name: m.parts[0]!, structs: structs.filter((s): s is BtfType => s?.kind === BtfKind.Struct) });
  }
  return out;
}

export function updateMetadata(existing: string | undefined, obj: BpfObject, which = "gadget.yaml"): UpdateResult {
  const doc: Document = existing !== undefined && existing.trim() !== "" ? yaml().parseDocument(existing) : new (yaml().Document)({});
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], which, "BAD_METADATA");
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  if (!yaml().isMap(doc.contents)) throw new GadgetError({ what: "invalid metadata file", which, why: "expected a YAML map at the top level", code: "BAD_METADATA" });

  // ig refuses to populate from an object whose markers or GADGET_PARAM variables are wrong
  const problems: MetadataProblem[] = [...markerProblems(obj)];
  for (const name of paramVariables(obj)) {
    const p = paramVarProblem(obj, name);
    if (p) problems.push({ field: `gadget_param_${name}`, message: `handling params: ${p.message}`, hint: p.hint });
  }
  assertValid({ errors: problems, warnings: [] }, which, "updating metadata");

  const added: string[] = [];
  const isEmpty = (v: unknown) => v === undefined || v === null || v === "";
  for (const [k, v] of PLACEHOLDERS) {
    if (isEmpty(doc.getIn([k]))) {
      doc.setIn([k], v);
      added.push(k);
    }
  }

  for (const ds of datasources(obj)) {
    if (isEmpty(doc.getIn(["datasources", ds.name]))) {
      doc.setIn(["datasources", ds.name], doc.createNode({ fields: {} }));
      added.push(`datasources.${ds.name}`);
    } else if (isEmpty(doc.getIn(["datasources", ds.name, "fields"]))) {
      doc.setIn(["datasources", ds.name, "fields"], doc.createNode({}));
    }
    for (const st of ds.structs) {
      for (const member of st.members ?? []) {
        if (!member.name || doc.hasIn(["datasources", ds.name, "fields", member.name])) continue;
        doc.setIn(["datasources", ds.name, "fields", member.name], doc.createNode({ annotations: { description: FIELD_DESCRIPTION } }));
        added.push(`datasources.${ds.name}.fields.${member.name}`);
      }
    }
  }

  for (const name of paramVariables(obj)) {
    const path = ["params", "ebpf", name];
    if (doc.hasIn(path)) continue;
    doc.setIn(path, doc.createNode({ key: name, defaultValue: "", description: PARAM_DESCRIPTION }));
    added.push(path.join("."));
  }

  return { text: doc.toString({ lineWidth: 0 }), added };
}
