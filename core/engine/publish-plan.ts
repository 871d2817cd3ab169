/**
 * The publish phase of a run (DESIGN §13), planned once the stages are loaded:
 * - order: publish targets that only change the local store (`leavesMachine: false`: sign,
 *   store-tag) run before those that send the image away (push, tar-export), whatever order the
 *   gadgetfile lists them in (in `publish` or in a custom task) — signatures exist before anything
 *   leaves the machine, so a push carries them and a tar holds them. Otherwise the listed order stays.
 * - where it starts: the first publish target of the `publish` list, or the first step of any task
 *   that sends an image away; the engine runs it only when every gadget built (phase-gate.ts).
 */
import type { Stage } from "../types.js";
import { stepStageName, type PlannedStep } from "../gadgetfile/tasks.js";

function staysLocal(stage: Stage | undefined): boolean {
  return stage?.publishTarget === true && stage.leavesMachine === false;
}

function ships(stage: Stage | undefined): boolean {
  return stage?.publishTarget === true && stage.leavesMachine !== false;
}

/**
 * The steps with each run of consecutive publish targets of one task ordered: those that stay
 * local first (stable). The `publish` list and custom tasks alike: `[push, sign]` becomes
 * `[sign, push]`, so a push never leaves before the signature exists.
 */
export function orderPublishSteps(steps: PlannedStep[], stages: ReadonlyMap<string, Stage>): PlannedStep[] {
  const out: PlannedStep[] = [];
  let group: PlannedStep[] = [];
  const stage = (s: PlannedStep) => stages.get(stepStageName(s.spec));
  const flush = () => {
    out.push(...group.filter((s) => staysLocal(stage(s))), ...group.filter((s) => !staysLocal(stage(s))));
    group = [];
  };
  for (const s of steps) {
    if (group.length > 0 && group[0]!.task !== s.task) flush();
    if (stage(s)?.publishTarget === true) group.push(s);
    else {
      flush();
      out.push(s);
    }
  }
  flush();
  return out;
}

/** Index of the first step of the publish phase, or undefined when the run publishes nothing. */
export function publishPhaseStart(steps: PlannedStep[], stages: ReadonlyMap<string, Stage>): number | undefined {
  const i = steps.findIndex((s) => s.publish || ships(stages.get(stepStageName(s.spec))));
  return i < 0 ? undefined : i;
}

/** Did ordering move a target? Then `--dry` says why. */
export function reorderedTargets(before: PlannedStep[], after: PlannedStep[]): boolean {
  return before.some((s, i) => s !== after[i]);
}
