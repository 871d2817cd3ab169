/**
 * The publish plan (core/engine/publish-plan.ts) and the all-or-nothing gate (phase-gate.ts) as
 * pure logic: which order publish targets run in, where the publish phase starts, and what the
 * gate decides when a gadget failed.
 */
import { describe, expect, it } from "vitest";
import { orderPublishSteps, publishPhaseStart } from "../../core/engine/publish-plan.js";
import { PhaseGate } from "../../core/engine/phase-gate.js";
import type { PlannedStep } from "../../core/gadgetfile/tasks.js";
import type { Stage } from "../../core/types.js";

const stage = (name: string, extra: Partial<Stage> = {}): Stage => ({ name, version: "1", run: async () => {}, ...extra });
const STAGES = new Map<string, Stage>([
  ["clang", stage("clang")],
  ["oci-pack", stage("oci-pack")],
  ["store-tag", stage("store-tag", { publishTarget: true, leavesMachine: false })],
  ["sign", stage("sign", { publishTarget: true, leavesMachine: false })],
  ["push", stage("push", { publishTarget: true, leavesMachine: true })],
  ["tar-export", stage("tar-export", { publishTarget: true, leavesMachine: true })],
  ["upload", stage("upload", { publishTarget: true })], // a plugin's target: ships by default
]);

const step = (task: string, name: string, publish = false): PlannedStep => ({ task, spec: name, ...(publish ? { publish } : {}) });
const names = (steps: PlannedStep[]) => steps.map((s) => `${s.task}:${s.spec as string}`);

describe("publish order", () => {
  it("the README's order push → tar-export → sign runs sign first; the build's store-tag stays where it is", () => {
    const steps = [step("build", "clang"), step("build", "oci-pack"), step("build", "store-tag"), step("publish", "push", true), step("publish", "tar-export", true), step("publish", "sign", true)];
    const ordered = orderPublishSteps(steps, STAGES);
    expect(names(ordered)).toEqual(["build:clang", "build:oci-pack", "build:store-tag", "publish:sign", "publish:push", "publish:tar-export"]);
    expect(publishPhaseStart(ordered, STAGES)).toBe(3);
  });

  it("a custom task's [push, sign, upload] becomes [sign, push, upload]; its phase starts at the first target that ships", () => {
    const steps = [step("build", "clang"), step("build", "store-tag"), step("release", "push"), step("release", "sign"), step("release", "upload")];
    const ordered = orderPublishSteps(steps, STAGES);
    expect(names(ordered)).toEqual(["build:clang", "build:store-tag", "release:sign", "release:push", "release:upload"]);
    expect(publishPhaseStart(ordered, STAGES)).toBe(3);
  });

  it("a build alone has no publish phase", () => {
    expect(publishPhaseStart([step("build", "clang"), step("build", "store-tag")], STAGES)).toBeUndefined();
  });
});

describe("the all-or-nothing gate", () => {
  const member = (name: string, failed: boolean, withheld: string[][]) => ({ name, failed: () => failed, withhold: (f: string[]) => void withheld.push([name, ...f]) });

  it("opens only when every gadget arrived; a failure withholds the others", async () => {
    const withheld: string[][] = [];
    const gate = new PhaseGate(3, false);
    let opened = false;
    const a = gate.arrive(member("a", false, withheld)).then(() => (opened = true));
    const b = gate.arrive(member("b", true, withheld));
    await new Promise((r) => setTimeout(r, 10));
    expect(opened).toBe(false);
    await gate.arrive(member("c", false, withheld));
    await Promise.all([a, b]);
    expect(opened).toBe(true);
    expect(withheld).toEqual([
      ["a", "b"],
      ["c", "b"],
    ]);
  });

  it("keep going: nobody is withheld", async () => {
    const withheld: string[][] = [];
    const gate = new PhaseGate(2, true);
    await Promise.all([gate.arrive(member("a", true, withheld)), gate.arrive(member("b", false, withheld))]);
    expect(withheld).toEqual([]);
  });
});
