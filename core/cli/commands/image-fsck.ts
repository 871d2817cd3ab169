import { fsck } from "../../store/fsck.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<number> {
  const report = await fsck(ctx.storeDir(), { repair: ctx.flagBool("repair") });
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify(report));
  } else {
    for (const p of report.problems) ctx.out(`problem: ${p}`);
    for (const g of report.garbage) ctx.out(`garbage: ${g}`);
    for (const r of report.repaired) ctx.out(r);
    for (const n of report.notes) ctx.out(`note: ${n}`);
    if (report.problems.length === 0 && report.garbage.length === 0) ctx.out(`${report.store}: ok (${report.checkedBlobs} blobs verified)`);
    else if (report.problems.length === 0) ctx.out("hint: `gadget image fsck --repair` removes the garbage");
  }
  return report.problems.length > 0 || report.garbage.length > 0 ? 1 : 0;
}
