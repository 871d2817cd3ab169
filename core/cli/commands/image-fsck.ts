import { fsck } from "../../store/fsck.js";
import type { CommandContext } from "../context.js";

/** Exit 0 when the store is sound (garbage alone is no failure: `gadget image prune` removes it); 1 for problems. */
export async function run(ctx: CommandContext): Promise<number> {
  const report = await fsck(ctx.storeDir(), { repair: ctx.flagBool("repair") });
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify({ ...report, sound: report.problems.length === 0 }));
  } else {
    for (const p of report.problems) ctx.out(`problem: ${p}`);
    for (const g of report.garbage) ctx.out(`garbage: ${g}`);
    for (const r of report.repaired) ctx.out(r);
    for (const n of report.notes) ctx.out(`note: ${n}`);
    if (report.problems.length === 0 && report.garbage.length === 0) ctx.out(`${report.store}: ok (${report.checkedBlobs} blobs verified)`);
    else if (report.problems.length === 0) {
      ctx.out(`sound: ${report.store}: no problems (${report.checkedBlobs} blobs verified); ${report.garbage.length} item(s) of garbage`);
      ctx.out("hint: `gadget image prune` removes the garbage (or `gadget image fsck --repair`)");
    }
  }
  return report.problems.length > 0 ? 1 : 0;
}
