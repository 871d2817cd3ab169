/**
 * `--validate-metadata` (on by default in ig): gadget.yaml checked against the eBPF object's
 * BTF with ig's rules and words (pkg/gadgets/run/types/metadata.go: Validate, checkParamVar).
 * Errors are what ig refuses: a `params.ebpf.<var>` that is not a global `const volatile`
 * variable (an array of them is fine), or that has an empty key. Warnings are what ig lets
 * through but a reader wants to know: an empty name, keys ig does not know (with their line),
 * and GADGET_* markers that ig's `--update-metadata` would refuse (see markerProblems).
 * Pure: takes the YAML text or map and the parsed object.
 */
import { parseYaml } from "../yaml.js";
import { GadgetError } from "../errors.js";
import { BtfKind, BTF_VAR_GLOBAL_ALLOCATED, typeToC, underlying } from "../btf/btf.js";
import { BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF, goQuote, mapTypeName, type BpfObject, type GadgetMarker } from "../btf/object.js";

export interface MetadataProblem {
  /** Dotted path in gadget.yaml, e.g. `params.ebpf.targ_uid`, or the marker variable. */
  field: string;
  message: string;
  hint?: string;
  /** 1-based line in gadget.yaml, when known. */
  line?: number;
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

export interface ParamVarProblem {
  message: string;
  hint: string;
}

/**
 * ig's checkParamVar: a BTF VAR of that name, with global linkage, whose type — after one
 * array level (`const volatile gadget_comm targ_comm[16]`) — is `const` of `volatile`.
 */
export function paramVarProblem(obj: BpfObject, name: string): ParamVarProblem | undefined {
  const { btf } = obj;
  const q = goQuote(name);
  const v = btf.byName(name, BtfKind.Var);
  const declare = `declare it in the eBPF program as \`const volatile <type> ${name} = <default>;\``;
  if (!v) return { message: `variable ${q} not found in eBPF object`, hint: `${declare}, or remove params.ebpf.${name} from gadget.yaml` };
  if (v.linkage !== BTF_VAR_GLOBAL_ALLOCATED) return { message: `${q} is not a global variable`, hint: `${declare} (a global: not static, not extern)` };
  let t = btf.get(v.type);
  if (t.kind === BtfKind.Array) t = btf.get(t.array!.type);
  const is = `it is \`${typeToC(btf, v.type)}\``;
  if (t.kind !== BtfKind.Const) return { message: `${q} is not const`, hint: `${declare}; ${is}` };
  if (btf.get(t.type).kind !== BtfKind.Volatile) return { message: `${q} is not volatile`, hint: `${declare}; ${is}` };
  return undefined;
}

/** ig's checkParamVar message, or undefined when the variable is a valid parameter. */
export function checkParamVar(obj: BpfObject, name: string): string | undefined {
  return paramVarProblem(obj, name)?.message;
}

/** What ig's Validate checks: params.ebpf entries (checkParamVar, non-empty key). */
function paramProblems(meta: Metadata, obj: BpfObject): MetadataProblem[] {
  const errors: MetadataProblem[] = [];
  const params = meta.params;
  if (params === undefined || params === null) return errors;
  if (!isMap(params)) return [{ field: "params", message: "expected a map of operators (e.g. `ebpf:`)" }];
  const ebpf = params.ebpf;
  if (ebpf === undefined || ebpf === null) return errors;
  if (!isMap(ebpf)) return [{ field: "params.ebpf", message: "expected a map of variable names" }];
  for (const [name, desc] of Object.entries(ebpf)) {
    const field = `params.ebpf.${name}`;
    const problem = paramVarProblem(obj, name);
    if (problem) errors.push({ field, ...problem });
    if (desc !== null && desc !== undefined && !isMap(desc)) errors.push({ field, message: "expected a map (key, defaultValue, description)" });
    else if (!desc || desc.key === undefined || desc.key === null || desc.key === "") {
      errors.push({ field, message: `param ${goQuote(name)} has an empty key`, hint: `give it the name users set it by: \`key: ${name.replace(/_/g, "-")}\`` });
    }
  }
  return errors;
}

const q = goQuote;

function findStruct(obj: BpfObject, name: string) {
  return obj.btf.byName(name, BtfKind.Struct);
}

/** ig's validateSnapshotterPrograms: each program exists and is an `iter/…` (Tracing) program; the first problem. */
function snapshotterProgramProblem(obj: BpfObject, programs: string[]): string | undefined {
  for (const p of programs) {
    if (p === "") return "empty program name";
    const prog = obj.programs.find((x) => x.name === p);
    if (!prog) return `program ${q(p)} not found in eBPF object`;
    if (prog.type !== "Tracing" || !prog.section.startsWith("iter/")) {
      return `invalid program ${q(p)}: expecting type "Tracing" and section name prefix "iter/", got ${q(prog.type)} and ${q(prog.section)}`;
    }
  }
  return undefined;
}

/** The step of ig's Populate each marker kind belongs to (ig prefixes its errors with it). */
const HANDLING: Record<GadgetMarker["kind"], string> = {
  tracer: "handling tracers",
  mapiter: "handling mapIters",
  snapshotter: "handling snapshotters",
  topper: "handling toppers",
  param: "handling params",
};

/** ig's getGadgetIdentByPrefix + the checks of its populate* functions, per marker kind, in ig's words. */
export function markerProblems(obj: BpfObject): MetadataProblem[] {
  const out: MetadataProblem[] = [];
  const add = (m: GadgetMarker, message: string, hint?: string) => out.push({ field: m.variable, message, ...(hint ? { hint } : {}) });
  const mapOf = (name: string) => obj.maps.find((x) => x.name === name);
  for (const m of obj.markers) {
    if (m.problem) {
      add(m, `${HANDLING[m.kind]}: ${m.problem}`, "declare GADGET_* markers with the macros of <gadget/macros.h>");
      continue;
    }
    const info = m.parts.join("___");
    switch (m.kind) {
      case "tracer": {
        if (m.parts.length !== 3) {
          add(m, `handling tracers: invalid tracer info: ${q(info)}`);
          break;
        }
        const [, mapName, structName] = m.parts as [string, string, string];
        const map = mapOf(mapName);
        if (!map) add(m, `handling tracers: map ${q(mapName)} not found in eBPF object`);
        else if (map.type !== BPF_MAP_TYPE_RINGBUF && map.type !== BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
          add(m, `handling tracers: tracer map is invalid: map ${q(mapName)} has a wrong type, expected: ringbuf or perf event array, got: ${mapTypeName(map.type)}`);
        }
        if (!findStruct(obj, structName)) add(m, `handling tracers: finding struct ${q(structName)} in eBPF object: not found`);
        break;
      }
      case "mapiter": {
        if (m.parts.length !== 2) {
          add(m, `handling mapIters: invalid mapIter info: ${q(info)}`);
          break;
        }
        const [name, mapName] = m.parts as [string, string];
        const map = mapOf(mapName);
        if (!map) {
          add(m, `handling mapIters: map ${q(mapName)} not found in eBPF object`);
          break;
        }
        if (map.type !== BPF_MAP_TYPE_HASH) {
          add(m, `handling mapIters: mapIter map is invalid: map ${q(mapName)} has a wrong type, expected: hash, got: ${mapTypeName(map.type)}`);
          break;
        }
        const key = map.keyTypeId !== undefined ? obj.btf.get(map.keyTypeId) : undefined;
        const value = map.valueTypeId !== undefined ? obj.btf.get(map.valueTypeId) : undefined;
        if (key?.kind !== BtfKind.Struct) add(m, `handling mapIters: map ${q(mapName)} key is not a struct`);
        else if (value?.kind !== BtfKind.Struct) add(m, `handling mapIters: map ${q(mapName)} value is not a struct`);
        else if (map.keySize !== key.size || map.valueSize !== value.size) add(m, `handling mapIters: key/value sizes of map ${q(name)} does not match size of structs`);
        break;
      }
      case "snapshotter": {
        if (m.parts.length < 3) {
          add(m, `handling snapshotters: invalid snapshotter definition, expected format: <name>___<structName>___<program1>___...___<programN>, got ${q(info)}`);
          break;
        }
        const [name, structName, ...programs] = m.parts as [string, string, ...string[]];
        const bad = snapshotterProgramProblem(obj, programs);
        if (bad) add(m, `handling snapshotters: validating snapshotter ${q(name)} programs: ${bad}`);
        else if (!findStruct(obj, structName)) add(m, `handling snapshotters: struct ${q(structName)} not found`);
        break;
      }
      case "topper": {
        if (m.parts.length !== 2) {
          add(m, `handling toppers: invalid topper info: ${q(info)}`);
          break;
        }
        const [, mapName] = m.parts as [string, string];
        const map = mapOf(mapName);
        if (!map) add(m, `handling toppers: map ${q(mapName)} not found in eBPF object`);
        else if (map.type !== BPF_MAP_TYPE_HASH) add(m, `handling toppers: map ${q(mapName)} has a wrong type, expected: hash, got: ${mapTypeName(map.type)}`);
        else if (map.valueTypeId === undefined) add(m, `handling toppers: map ${q(mapName)} does not have BTF information for its values`);
        else {
          const v = obj.btf.get(map.valueTypeId);
          if (v.kind !== BtfKind.Struct) add(m, `handling toppers: map ${q(mapName)} value is ${q(v.name || typeToC(obj.btf, v.id))}, expected "struct"`);
        }
        break;
      }
      case "param":
        break; // checked by --update-metadata (ig's populateEbpfParams), not by validation
    }
  }
  return out;
}

/** The value struct's name of a topper's map, when it is one (for --update-metadata). */
export function topperStruct(obj: BpfObject, mapName: string): string | undefined {
  const map = obj.maps.find((x) => x.name === mapName);
  if (map?.valueTypeId === undefined) return undefined;
  const v = underlying(obj.btf, map.valueTypeId);
  return v.kind === BtfKind.Struct ? v.name : undefined;
}

export function validateMetadata(meta: Metadata, obj: BpfObject): ValidationReport {
  const warnings: MetadataProblem[] = [];
  if (meta.name === undefined || meta.name === null || meta.name === "") {
    warnings.push({ field: "name", message: "gadget name is empty" });
  }
  const errors = paramProblems(meta, obj);
  const ds = meta.datasources;
  if (ds !== undefined && ds !== null && !isMap(ds)) errors.push({ field: "datasources", message: "expected a map of data sources" });
  for (const p of markerProblems(obj)) warnings.push({ ...p, message: `${p.message} (ig's --update-metadata refuses this object)` });
  return { errors, warnings };
}

/** Throw one GadgetError naming every problem (first one's hint). */
export function assertValid(report: ValidationReport, which = "gadget.yaml", what = "invalid metadata"): void {
  if (report.errors.length === 0) return;
  const first = report.errors[0]!;
  throw new GadgetError({
    what,
    which: `${which}: ${first.field}`,
    why: report.errors.map((e, i) => (i === 0 ? e.message : `${e.field}: ${e.message}`)).join("; "),
    hint: first.hint ?? "fix gadget.yaml or the program, or pass --validate-metadata=false",
    code: "BAD_METADATA",
  });
}
