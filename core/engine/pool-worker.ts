/** tinypool worker functions (see pool.ts). */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { gzipSync } from "node:zlib";

export async function hashFile({ path }: { path: string }): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest("hex")}`;
}

export function gzip({ data, level }: { data: Uint8Array; level: number }): Uint8Array {
  return gzipSync(data, { level });
}
