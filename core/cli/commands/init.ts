/** `gadget init [DIR]`: scaffold a gadget that builds on the first try (program.bpf.c, gadget.yaml, gadgetfile.ts). */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { GadgetError } from "../../errors.js";
import type { CommandContext } from "../context.js";
import { toJson } from "../output.js";

/** A gadget name from a folder name: lowercase letters, digits, `_` and `-`. */
export function gadgetNameOf(dir: string): string {
  const n = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "_")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/[_-]+$/, "");
  return n || "my_gadget";
}

export function programSource(name: string): string {
  const fn = name.replace(/[^a-z0-9_]/g, "_");
  return `// SPDX-License-Identifier: GPL-2.0
/* ${name}: counts openat(2) calls per process. Build: gadget run */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_ENTRIES 10240

struct {
\t__uint(type, BPF_MAP_TYPE_HASH);
\t__uint(max_entries, MAX_ENTRIES);
\t__type(key, __u32);   /* tgid */
\t__type(value, __u64); /* calls */
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int ${fn}_openat(void *ctx)
{
\t__u32 tgid = bpf_get_current_pid_tgid() >> 32;
\t__u64 one = 1, *v;

\tv = bpf_map_lookup_elem(&counts, &tgid);
\tif (v)
\t\t__sync_fetch_and_add(v, 1);
\telse
\t\tbpf_map_update_elem(&counts, &tgid, &one, BPF_NOEXIST);
\treturn 0;
}

char LICENSE[] SEC("license") = "GPL";
`;
}

export function metadataYaml(name: string): string {
  return `name: ${name}
description: counts openat(2) calls per process
homepageURL: ""
documentationURL: ""
sourceURL: ""
`;
}

export function gadgetfileSource(name: string): string {
  return `import { defineGadgetfile } from "gadget";

// \`gadget run\` builds this gadget into the local store (the same artifact as \`ig image build\`);
// \`gadget run --watch\` rebuilds on every save. See gadgetfile.ts.example in gadget's repository
// for every option (several gadgets, tasks, custom stages, publish targets).
export default defineGadgetfile({
  gadgets: ["."],
  defaults: {
    tag: "${name}:latest",
    archs: ["amd64", "arm64"],
  },
});
`;
}

export async function run(ctx: CommandContext): Promise<void> {
  const dir = resolve(ctx.cwd, ctx.args[0] ?? ".");
  const name = gadgetNameOf(dir);
  const files: Record<string, string> = {
    "program.bpf.c": programSource(name),
    "gadget.yaml": metadataYaml(name),
    "gadgetfile.ts": gadgetfileSource(name),
  };
  const existing = Object.keys(files).filter((f) => existsSync(join(dir, f)));
  if (existing.length > 0) {
    throw new GadgetError({
      what: "cannot scaffold a gadget",
      which: relative(ctx.cwd, dir) || ".",
      why: `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}`,
      hint: "choose an empty folder: gadget init DIR",
      code: "EXISTS",
    });
  }
  try {
    mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text, { flag: "wx" });
  } catch (e) {
    throw new GadgetError({ what: "cannot scaffold a gadget", which: dir, why: (e as Error).message, cause: e });
  }
  const rel = relative(ctx.cwd, dir);
  const shown = rel === "" ? "." : rel.startsWith("..") ? dir : rel;
  if (ctx.flagBool("json")) {
    ctx.out(toJson({ name, dir, files: Object.keys(files) }, false));
    return;
  }
  ctx.out(`Created gadget ${name} in ${shown}: ${Object.keys(files).join(", ")}`);
  ctx.out(shown === "." ? "Next: gadget run" : `Next: cd ${shown} && gadget run`);
}
