/** Shared helpers for the build tests: example copies, store snapshots, reading built images. */
import { cp, readFile, readdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { REPO_ROOT } from "../helpers/cli.js";

export const EXAMPLES = join(REPO_ROOT, "examples");
export const EXAMPLE_NAMES = ["trace_exec", "count_syscall", "wasm_hello"] as const;

/** Fail (never skip) when the toolchain is missing. */
export function requireTools(...tools: string[]): void {
  for (const t of tools) {
    try {
      execFileSync("sh", ["-c", `command -v ${t} || test -x /usr/sbin/${t}`], { stdio: "ignore" });
    } catch {
      throw new Error(`${t} is not installed: run scripts/bootstrap`);
    }
  }
}

/** Copy examples/ (all of it: the gadgets share examples/include) into dir/<name>. */
export async function copyExamples(dir: string, name = "examples"): Promise<string> {
  const dst = join(dir, name);
  await cp(EXAMPLES, dst, { recursive: true });
  return dst;
}

/** index.json text + sorted blob list: equal snapshots mean the store did not change. */
export async function storeSnapshot(store: string): Promise<string> {
  const index = existsSync(join(store, "index.json")) ? await readFile(join(store, "index.json"), "utf8") : "<no index.json>";
  let blobs: string[] = [];
  try {
    blobs = (await readdir(join(store, "blobs", "sha256"))).sort();
  } catch {
    /* none */
  }
  return `${index}\n${blobs.join("\n")}`;
}

export async function blob(store: string, digest: string): Promise<Buffer> {
  return readFile(join(store, "blobs", "sha256", digest.replace(/^sha256:/, "")));
}

export async function blobJson<T = any>(store: string, digest: string): Promise<T> {
  return JSON.parse((await blob(store, digest)).toString("utf8")) as T;
}

export const digestOf = (line: string): string => {
  const m = /@(sha256:[a-f0-9]{64})/.exec(line);
  if (!m) throw new Error(`no digest in ${JSON.stringify(line)}`);
  return m[1]!;
};
