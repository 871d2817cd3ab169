/**
 * `gadget init [DIR]`: scaffold a gadget that builds on the first try (program.bpf.c, gadget.yaml,
 * gadgetfile.ts). `--monorepo`: a repository of gadgets — a gadgetfile on the monorepo recipe,
 * gadgets/ with one gadget, stages/ with one example stage, and a tsconfig.json and package.json
 * with which an editor (and `gadget typecheck`) type-checks the gadgetfile and stages as they are.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
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

/** The example gadget of a monorepo scaffold. */
export const MONOREPO_GADGET = "open_count";

export function monorepoGadgetfile(): string {
  return `import { defineGadgetfile } from "gadget";
import { monorepo } from "gadget/recipes/monorepo";

// Every folder under gadgets/ that holds a program.bpf.c is a gadget (its folder name is its name).
//   gadget run                 build them all into the local store (as \`ig image build\` does)
//   gadget run --only NAME     one of them (globs too); from inside gadgets/NAME this file is found
//   gadget run --watch         rebuild what a save affects
//   gadget typecheck           type-check this file and stages/ (needs TypeScript: npm install)
export default defineGadgetfile(
  monorepo({
    root: "gadgets",
    tag: "{name}:latest",
    archs: ["amd64", "arm64"],
    plugins: ["./stages/spdx.ts"],
    tasks: {
      // the ig recipe's steps, with the example stage before packing
      build: { steps: ["clang", "strip", "spdx", "wasm", "oci-pack", "store-tag"] },
    },
  }),
);
`;
}

export function exampleStageSource(): string {
  return `import { readFile } from "node:fs/promises";
import { defineStage, GadgetError, t } from "gadget";

/**
 * An example stage: the eBPF source must carry an SPDX license line; the license becomes the
 * image's org.opencontainers.image.licenses annotation. Cached like every step: it re-runs when
 * the source (its declared input), its options or this file change.
 */
export default defineStage({
  name: "spdx",
  version: "1",
  description: "check the SPDX license line and annotate the image with it",
  options: t.object({
    /** Fail when the line is missing (default true). */
    required: t.boolean(),
  }),
  inputs: (ctx) => ({ files: [ctx.gadget.ebpfSource], args: { required: ctx.options.required ?? true } }),
  async run(ctx) {
    const source = await readFile(ctx.gadget.ebpfSource, "utf8").catch(() => "");
    const license = /SPDX-License-Identifier:\\s*(\\S+)/.exec(source)?.[1];
    if (!license && (ctx.options.required ?? true)) {
      throw new GadgetError({
        what: "no SPDX license line",
        which: ctx.gadget.ebpfSource,
        why: "the eBPF program must say under which license it is",
        hint: "start the file with: // SPDX-License-Identifier: GPL-2.0",
      });
    }
    return { annotations: { "org.opencontainers.image.licenses": license ?? "NOASSERTION" } };
  },
});
`;
}

/** tsconfig.json: "gadget" resolves to this installation's sources, as it does when gadget runs the files. */
export function tsconfigSource(installation: string): string {
  const p = (sub: string) => JSON.stringify(join(installation, sub));
  return `{
  // Makes editors (and \`gadget typecheck\`) type-check gadgetfile.ts and stages/.
  // "gadget" is the gadget that runs them (${installation});
  // after \`npm install --save-dev gadget\` the "paths" entries can go.
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022"],
    "module": "ESNext",
    "moduleResolution": "Bundler",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true,
    "allowImportingTsExtensions": true,
    "types": ["node"],
    "paths": {
      "gadget": [${p("core/index.ts")}],
      "gadget/stage": [${p("core/stage-api.ts")}],
      "gadget/recipes/*": [${p("recipes/*")}]
    }
  },
  "include": ["gadgetfile.ts", "stages/**/*.ts"]
}
`;
}

export function packageJsonSource(name: string): string {
  return (
    JSON.stringify(
      {
        name,
        private: true,
        type: "module",
        scripts: { build: "gadget run", watch: "gadget run --watch", typecheck: "gadget typecheck" },
        devDependencies: { "@types/node": "^20.19.0", typescript: "^5.9.3" },
      },
      null,
      2,
    ) + "\n"
  );
}

async function monorepoFiles(dir: string): Promise<Record<string, string>> {
  const { installationRoot } = await import("../../gadgetfile/typecheck.js");
  const g = MONOREPO_GADGET;
  return {
    "gadgetfile.ts": monorepoGadgetfile(),
    [`gadgets/${g}/program.bpf.c`]: programSource(g),
    [`gadgets/${g}/gadget.yaml`]: metadataYaml(g),
    "stages/spdx.ts": exampleStageSource(),
    "tsconfig.json": tsconfigSource(installationRoot().replace(/\/$/, "")),
    "package.json": packageJsonSource(gadgetNameOf(dir).replace(/_/g, "-")),
    ".gitignore": "node_modules/\n",
  };
}

export async function run(ctx: CommandContext): Promise<void> {
  const dir = resolve(ctx.cwd, ctx.args[0] ?? ".");
  const name = gadgetNameOf(dir);
  const monorepo = ctx.flagBool("monorepo");
  const files: Record<string, string> = monorepo
    ? await monorepoFiles(dir)
    : {
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
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text, { flag: "wx" });
    }
  } catch (e) {
    throw new GadgetError({ what: "cannot scaffold a gadget", which: dir, why: (e as Error).message, cause: e });
  }
  const rel = relative(ctx.cwd, dir);
  const shown = rel === "" ? "." : rel.startsWith("..") ? dir : rel;
  if (ctx.flagBool("json")) {
    ctx.out(toJson({ name: monorepo ? MONOREPO_GADGET : name, dir, files: Object.keys(files) }, false));
    return;
  }
  const cd = shown === "." ? "" : `cd ${shown} && `;
  if (monorepo) {
    ctx.out(`Created a gadget repository in ${shown}: ${Object.keys(files).join(", ")}`);
    ctx.out(`Next: ${cd}gadget typecheck && gadget run`);
    return;
  }
  ctx.out(`Created gadget ${name} in ${shown}: ${Object.keys(files).join(", ")}`);
  ctx.out(`Next: ${cd}gadget run`);
}
