/** tinypool worker functions (see pool.ts). */
import { hashFile as hashFileInline } from "../oci/digest.js";

export async function hashFile({ path }: { path: string }): Promise<{ digest: string; size: number }> {
  return hashFileInline(path);
}
