/**
 * The two Mermaid diagrams of `ig image inspect` (`ebpf.flowchart`, `ebpf.sequence`): which
 * program touches which map, from the helper calls in its instructions. A program's references
 * are found as ig does: the last map (or other symbol) loaded into a register is remembered per
 * register; a `bpf_map_*_elem` helper call uses r1's (labelled Lookup, Update, Delete, Push, …:
 * the helper's name without `FnMap`/`Elem`), `bpf_perf_event_output` r2's (`EventOutput`). Each
 * (map, label) pair counts once per program, in order of first use.
 */
import { helperName, isBuiltinCall } from "./bpf-insn.js";
import type { CollectionInfo, ProgramInfo } from "./inspect-info.js";

const HIDDEN_MAPS = new Set([".rodata", ".bss"]);
const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** [map, label] pairs in order of first use. */
export function programReferences(p: ProgramInfo): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  const last = new Map<number, string>();
  for (const ins of p.instructions) {
    if (isBuiltinCall(ins)) {
      let fn = helperName(ins.imm);
      let ref: string | undefined;
      if (fn.startsWith("FnMap") && fn.endsWith("Elem")) {
        fn = fn.slice("FnMap".length, -"Elem".length);
        ref = last.get(1);
      } else if (fn === "FnPerfEventOutput") {
        fn = fn.slice("FnPerf".length);
        ref = last.get(2);
      }
      if (ref) {
        const key = `${ref}\0${fn}`;
        if (!seen.has(key)) {
          seen.add(key);
          out.push([ref, fn]);
        }
      }
    }
    if (ins.reference) last.set(ins.dst, ins.reference);
  }
  return out;
}

const VERBS = ["Lookup", "Update", "Delete"];

/** `ebpf.flowchart`: maps as cylinders, one arrow per map a program uses (Lookup/Update/Delete merged). */
export function flowchart(c: CollectionInfo): string {
  let g = "flowchart LR\n";
  const maps = [...c.maps.values()].filter((m) => !HIDDEN_MAPS.has(m.name)).sort(byName);
  for (const m of maps) g += `${m.name}[("${m.name}")]\n`;
  for (const p of c.programs.slice().sort(byName)) {
    const refs = programReferences(p);
    const pending = new Map(refs.map(([m, l]) => [`${m}\0${l}`, true]));
    for (const [map, label] of refs) {
      if (!pending.get(`${map}\0${label}`)) continue;
      let text = label;
      const verbs = VERBS.filter((v) => pending.get(`${map}\0${v}`));
      if (verbs.length > 1) {
        for (const v of verbs) pending.set(`${map}\0${v}`, false);
        text = verbs.join("+");
      }
      g += `${p.name} -- "${text}" --> ${map}\n`;
    }
    g += `${p.name}["${p.name}"]\n`;
  }
  return g;
}

/** `ebpf.sequence`: programs, then maps in order of first use, then one message per (map, label). */
export function sequence(c: CollectionInfo): string {
  let g = "sequenceDiagram\nbox eBPF Programs\n";
  const progs = c.programs.slice().sort(byName);
  for (const p of progs) g += `participant ${p.name}\n`;
  g += "end\n";
  const order: string[] = [];
  const events: string[] = [];
  for (const p of progs) {
    for (const [map, label] of programReferences(p)) {
      if (!order.includes(map)) order.push(map);
      events.push(`${p.name}->>${map}: ${label}\n`);
    }
  }
  g += "box eBPF Maps\n";
  for (const m of order) if (!HIDDEN_MAPS.has(m)) g += `participant ${m}\n`;
  g += "end\n";
  return g + events.join("");
}
