import { GadgetError } from "../../errors.js";
import type { CommandContext } from "../context.js";

export async function run(_ctx: CommandContext): Promise<void> {
  throw new GadgetError({ what: "gadget image verify", why: "not yet available in this version" });
}
