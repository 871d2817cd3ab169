/**
 * `--validate-metadata` (on by default in ig): gadget.yaml checked against the eBPF object's
 * BTF — every `params.ebpf.<var>` must be a global `const volatile` variable of the program,
 * tracers declared with GADGET_TRACER must name a ring buffer / perf event array and a struct
 * that exist. Pure: takes the YAML text and the parsed object.
 */
import { parseYaml } from "../yaml.js";
import { GadgetError } from "../errors.js";
import { BtfKind } from "../btf/btf.js";
import { BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF, type BpfObject } from "../btf/object.js";

export interface MetadataProblem {
  /** Dotted path in gadget.yaml, e.g. `params.ebpf.targ_uid`, or the marker variable. */
  field: string;
  message: string;
  hint?: string;
}

export interface ValidationReport {
  errors: MetadataProblem[];
  warnings: MetadataProblem[];
}

export type Metadata = Record<string, unknown>;

/** Parse gadget.yaml text into a map (empty document → {}); YAML errors: `invalid YAML (<file>:<line>:<col>): …`. */
export function parseMetadata(text: string, which = "gadget.yaml"): Metadata {
  const doc = parseYaml(text, which, "BAD_METADATA");
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new GadgetError({ what: "invalid metadata file", which, why: "expected a YAML map at the top level", code: "BAD_METADATA" });
  }
  return doc as Metadata;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** ig's checkParamVar: a global `const volatile` variable of that name. */
export function checkParamVar(obj: BpfObject, name: string): string | undefined {
  const g = obj.globals.find((x) => x.name === name);
  if (!g) return `variable ${JSON.stringify(name)} not found in eBPF object`;
  if (g.linkage !== "global") return `${JSON.stringify(name)} is not a global variable`;
  if (!g.isConst) return `${JSON.stringify(name)} is not const (it is \`${g.cType}\`)`;
  if (!g.isVolatile) return `${JSON.stringify(name)} is not volatile (it is \`${g.cType}\`)`;
  return undefined;
}

export function validateMetadata(meta: Metadata, obj: BpfObject): ValidationReport {
  const errors: MetadataProblem[] = [];
  const warnings: MetadataProblem[] = [];

  if (meta.name === undefined || meta.name === null || meta.name === "") {
    warnings.push({ field: "name", message: "gadget name is empty" });
  }

  const params = meta.params;
  if (params !== undefined && params !== null) {
    if (!isMap(params)) errors.push({ field: "params", message: "expected a map of operators (e.g. `ebpf:`)" });
    else {
      const ebpf = params.ebpf;
      if (ebpf !== undefined && ebpf !== null) {
        if (!isMap(ebpf)) errors.push({ field: "params.ebpf", message: "expected a map of variable names" });
        else
          for (const [name, desc] of Object.entries(ebpf)) {
            const problem = checkParamVar(obj, name);
            if (problem) errors.push({ field: `params.ebpf.${name}`, message: problem, hint: `declare it in the eBPF program as \`const volatile <type> ${name} = <default>;\`` });
            if (desc !== null && desc !== undefined && !isMap(desc)) errors.push({ field: `params.ebpf.${name}`, message: "expected a map (key, defaultValue, description)" });
          }
      }
    }
  }

  for (const m of obj.markers) {
    if (m.problem) {
      errors.push({ field: m.variable, message: m.problem });
      continue;
    }
    if (m.kind === "param") {
      const problem = checkParamVar(obj, m.parts.join("___"));
      if (problem) errors.push({ field: m.variable, message: `GADGET_PARAM: ${problem}` });
    } else if (m.kind === "tracer") {
      if (m.parts.length !== 3) {
        errors.push({ field: m.variable, message: `invalid tracer info: ${JSON.stringify(m.parts.join("___"))}` });
        continue;
      }
      const [, mapName, structName] = m.parts as [string, string, string];
      const map = obj.maps.find((x) => x.name === mapName);
      if (!map) errors.push({ field: m.variable, message: `map ${JSON.stringify(mapName)} not found in eBPF object` });
      else if (map.type !== BPF_MAP_TYPE_RINGBUF && map.type !== BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
        errors.push({ field: m.variable, message: `map ${JSON.stringify(mapName)} has a wrong type, expected: ringbuf or perf event array` });
      }
      if (!obj.btf.byName(structName, BtfKind.Struct)) errors.push({ field: m.variable, message: `struct ${JSON.stringify(structName)} not found in eBPF object` });
    }
  }

  const ds = meta.datasources;
  if (ds !== undefined && ds !== null && !isMap(ds)) errors.push({ field: "datasources", message: "expected a map of data sources" });
  return { errors, warnings };
}

/** Throw one GadgetError naming every problem (first one's hint). */
export function assertValid(report: ValidationReport, which = "gadget.yaml"): void {
  if (report.errors.length === 0) return;
  const first = report.errors[0]!;
  throw new GadgetError({
    what: "invalid metadata",
    which: `${which}: ${first.field}`,
    why: report.errors.map((e, i) => (i === 0 ? e.message : `${e.field}: ${e.message}`)).join("; "),
    hint: first.hint ?? "fix gadget.yaml or the program, or pass --validate-metadata=false",
    code: "BAD_METADATA",
  });
}
