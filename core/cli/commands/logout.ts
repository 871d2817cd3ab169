import { usageError } from "../../errors.js";
import { logout } from "../../auth/login.js";
import type { CommandContext } from "../context.js";
import { authFileFlag } from "../registry-options.js";

export async function run(ctx: CommandContext): Promise<void> {
  const all = ctx.flagBool("all");
  const registry = ctx.args[0];
  if (all && registry) throw usageError("pass either REGISTRY or --all, not both");
  if (!all && !registry) throw usageError("logout needs a REGISTRY or --all", "usage: gadget logout REGISTRY | --all");
  const authfile = authFileFlag(ctx);
  const what = await logout(registry, { all, authfile, env: ctx.env });
  ctx.out(`Removed login credentials for ${what}`);
}
