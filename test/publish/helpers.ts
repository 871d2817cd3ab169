/** Shared setup for the publish tests: a 3-gadget repository (repo3), keys, registries, a fresh store to check against. */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, type RunResult } from "../helpers/cli.js";
import { copyFixture, requireTool, type Repo } from "../engine/helpers.js";
import { writeKeys, type KeyFiles } from "../sign/fixtures.js";

export { requireTool };

export const GADGETS = ["exec_count", "open_count", "tcp_count"];

/** A policy stage (a plugin, like an organization's own): fails the gadgets named in POLICY_DENY. */
const POLICY_STAGE = `import { defineStage, GadgetError } from "gadget";
export default defineStage({
  name: "policy",
  version: "1",
  cacheable: false,
  async run(ctx) {
    const denied = (ctx.env.POLICY_DENY ?? "").split(",");
    if (denied.includes(ctx.gadget.name)) throw new GadgetError({ what: "policy", which: ctx.gadget.name, why: "denied by POLICY_DENY" });
  },
});
`;

export interface PublishRepo extends Repo {
  keys: KeyFiles;
  /** Write gadgetfile.ts with this `publish` list (a JS expression) and the policy stage in the build. */
  gadgetfile(publish: string, extra?: string): Promise<void>;
  /** `gadget run …` with the repo's store and SOURCE_DATE_EPOCH. */
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
}

export async function publishRepo(): Promise<PublishRepo> {
  requireTool("clang");
  requireTool("docker-registry");
  const repo = await copyFixture("repo3");
  const keys = await writeKeys(repo.dir, "ecdsa", "release");
  await mkdir(join(repo.dir, "stages"), { recursive: true });
  await writeFile(join(repo.dir, "stages", "policy.ts"), POLICY_STAGE);
  return {
    ...repo,
    keys,
    async gadgetfile(publish, extra = "") {
      await writeFile(
        join(repo.dir, "gadgetfile.ts"),
        `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { archs: ["amd64"], tag: "acme/{name}:v1" },
  plugins: ["./stages/policy.ts"],
  tasks: { build: { steps: ["policy", "clang", "strip", "wasm", "oci-pack", "store-tag"] } },
  publish: ${publish},${extra}
});
`,
      );
    },
  };
}

/** A store of its own, to pull into and verify there (proof that the registry holds it). */
export async function freshStore(parent: string): Promise<string> {
  return mkdtemp(join(parent, "fresh-store-"));
}

/** Break a gadget's program (a compile error) and return how to restore it. */
export async function breakGadget(repoDir: string, name: string): Promise<() => Promise<void>> {
  const file = join(repoDir, "gadgets", name, "program.bpf.c");
  const text = await readFile(file, "utf8");
  await writeFile(file, text + "\nthis is not C;\n");
  return () => writeFile(file, text);
}

/** Does the registry have this tag? (OCI index accept: the registry 404s manifests it is not asked for properly.) */
export async function hasTag(url: string, repository: string, tag: string, init: RequestInit = {}): Promise<boolean> {
  const res = await fetch(`${url}/v2/${repository}/manifests/${tag}`, { ...init, headers: { Accept: "application/vnd.oci.image.index.v1+json", ...(init.headers ?? {}) } });
  await res.arrayBuffer();
  if (res.status !== 200 && res.status !== 404) throw new Error(`registry answered ${res.status} for ${repository}:${tag}`);
  return res.status === 200;
}

/** Pull REF into a fresh store and verify it there with the public key. */
export async function pullAndVerify(ref: string, store: string, pub: string, registryFlags: string[]): Promise<{ pull: RunResult; verify: RunResult }> {
  const pull = await runGadget(["image", "pull", ref, ...registryFlags, "--oci-store", store]);
  const verify = await runGadget(["image", "verify", ref, "--public-keys", pub, "--json", "--oci-store", store]);
  return { pull, verify };
}
