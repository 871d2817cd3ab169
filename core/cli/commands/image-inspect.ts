/**
 * `gadget image inspect IMAGE`, as ig's (cmd/common/image/inspect.go NewInspectCmd): the image's
 * extra info — `{ "<key>": { "content": …, "contentType": … } }` for the oci.*, ebpf.* and wasm.*
 * keys (core/image/extra-info.ts) — as `-o jsonpretty` (default), `json` or `yaml`; `--extra-info
 * KEY` prints one entry's content (JSON and YAML content parsed), `--jsonpath EXPR` a part of it.
 * Before that, ig's image policy: `--pull missing|always|never`, `--allowed-gadgets`, and
 * signature verification (`--verify-image`, on by default, `--public-keys`).
 *
 * `-o summary` prints gadget's own overview (index, manifests, layers, annotations, signatures)
 * and `--json` the same as one document; both describe the image as stored, without the policy.
 */
import { usageError, type GadgetError } from "../../errors.js";
import { yaml } from "../../yaml.js";
import type { Descriptor } from "../../oci/model.js";
import type { CommandContext } from "../context.js";
import { transferOptionsFromFlags } from "../registry-options.js";

const MODES = ["yaml", "json", "jsonpretty", "summary"];

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  const mode = ctx.flagString("output") ?? "jsonpretty";
  if (!MODES.includes(mode)) throw usageError(`invalid output mode ${JSON.stringify(mode)}, valid values are: ${MODES.join(", ")}`);
  if (ctx.flagBool("json") || mode === "summary") return summary(ctx, image);

  const extraInfo = ctx.flagString("extra-info") ?? "";
  const jsonPath = ctx.flagString("jsonpath") ?? "";
  if (ctx.flagBool("show-datasources")) {
    throw usageError(
      "--show-datasources is not supported: ig creates a gadget's data sources (and their fields) with its operators when it loads the gadget",
      `run \`ig image inspect ${image} --show-datasources\`; \`--extra-info oci.metadata\` shows the data sources gadget.yaml declares`,
    );
  }
  if (jsonPath !== "" && extraInfo === "") throw usageError(`jsonpath ${JSON.stringify(jsonPath)} can only be used with extra info or show-datasources`);
  const pull = ctx.flagString("pull") ?? "missing";
  const { PULL_POLICIES, ensureImage } = await import("../../image/ensure.js");
  if (!(PULL_POLICIES as readonly string[]).includes(pull)) throw usageError(`invalid value ${JSON.stringify(pull)} for --pull`, `valid values are ${PULL_POLICIES.join(", ")}`);

  const verify = ctx.flags["verify-image"] !== false;
  const keys = verify ? await publicKeys(ctx) : [];
  const ensured = await ensureImage(image, {
    ...transferOptionsFromFlags(ctx, image),
    pull: pull as "always" | "missing" | "never",
    disallowPulling: ctx.flagBool("disallow-pulling"),
    allowedGadgets: ctx.flagList("allowed-gadgets"),
    verify,
    publicKeys: keys,
    skipVerification: "pass --verify-image=false",
    onWarning: (m) => ctx.warn(`Warning: ${m}`),
  });
  const store = await ctx.openStore();
  const { gadgetExtraInfo } = await import("../../image/extra-info.js");
  const info = await gadgetExtraInfo(store, ensured.descriptor, image);

  const { goJson } = await import("../../gojson-value.js");
  let custom: unknown;
  if (extraInfo !== "") {
    const e = info[extraInfo];
    if (!e) throw usageError(`extra info ${JSON.stringify(extraInfo)} not found`, `known keys: ${Object.keys(info).sort().join(", ")}`);
    if (e.contentType === "application/json") custom = JSON.parse(e.content);
    else if (e.contentType === "text/yaml") custom = parseYamlAsJson(e.content, extraInfo);
    else custom = e.content;
    if (jsonPath !== "") {
      if (e.contentType !== "application/json" && e.contentType !== "text/yaml") throw usageError(`jsonpath ${JSON.stringify(jsonPath)} can only be used with JSON or YAML content`);
      const { jsonPath: evaluate } = await import("../../jsonpath.js");
      try {
        custom = evaluate(custom, `$${jsonPath}`);
      } catch (e) {
        throw usageError(`resolving path ${JSON.stringify(jsonPath)}: ${(e as GadgetError).why ?? (e as Error).message}`);
      }
      if (custom === undefined || custom === null || (Array.isArray(custom) && custom.length === 0)) throw usageError(`path ${JSON.stringify(jsonPath)} not found in extra info ${JSON.stringify(extraInfo)}`);
    }
  }
  const whole = Object.fromEntries(Object.entries(info).map(([k, v]) => [k, { contentType: v.contentType, content: v.content }]));
  const value = custom ?? whole;
  if (typeof value === "string") ctx.stdout.write(`${value}\n`);
  else if (mode === "yaml") ctx.stdout.write(await toYaml(value));
  else ctx.stdout.write(`${goJson(value, { pretty: mode === "jsonpretty", sortKeys: true })}\n`);
}

async function publicKeys(ctx: CommandContext) {
  const [{ INSPEKTOR_GADGET_PUBLIC_KEY }, { loadPublicKeys }] = await Promise.all([import("../../sign/ig-public-key.js"), import("../../sign/key-files.js")]);
  const items = ctx.flags["public-keys"] === undefined ? [INSPEKTOR_GADGET_PUBLIC_KEY] : ctx.flagList("public-keys");
  return loadPublicKeys(items, ctx.cwd);
}

/** sigs.k8s.io/yaml's YAMLToJSON, then json.Unmarshal into a map. */
function parseYamlAsJson(text: string, key: string): unknown {
  let v: unknown;
  try {
    v = yaml().parse(text, { maxAliasCount: 100 });
  } catch (e) {
    throw usageError(`converting YAML to JSON: ${(e as Error).message.split("\n")[0]}`, `extra info ${key}`);
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw usageError(`unmarshalling JSON content: extra info ${key} is not a mapping`);
  return JSON.parse(JSON.stringify(v));
}

/** sigs.k8s.io/yaml.Marshal: keys sorted, sequences not indented under their key, multi-line strings as literal blocks. */
async function toYaml(value: unknown): Promise<string> {
  return yaml().stringify(value, { version: "1.1", sortMapEntries: true, indentSeq: false, lineWidth: 0, blockQuote: "literal" });
}

async function summary(ctx: CommandContext, image: string): Promise<void> {
  const { inspectImage } = await import("../../image/inspect.js");
  const store = await ctx.openStore();
  const r = await inspectImage(store, image);
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify(r, null, 2));
    return;
  }
  const d = (x: Descriptor) => `${x.digest}  ${x.size} B  ${x.mediaType || "(no media type)"}`;
  ctx.out(`Reference:  ${r.reference}`);
  ctx.out(`Digest:     ${r.descriptor.digest}`);
  ctx.out(`MediaType:  ${r.descriptor.mediaType}`);
  ctx.out(`Size:       ${r.descriptor.size}`);
  if (Object.keys(r.annotations).length > 0) {
    ctx.out("Annotations:");
    for (const [k, v] of Object.entries(r.annotations).sort()) ctx.out(`  ${k}: ${v}`);
  }
  ctx.out("Manifests:");
  for (const m of r.manifests) {
    const p = m.descriptor.platform;
    ctx.out(`  ${p ? `${p.os}/${p.architecture}` : "(no platform)"}  ${d(m.descriptor)}`);
    if (m.manifest.artifactType) ctx.out(`    artifactType: ${m.manifest.artifactType}`);
    ctx.out(`    config: ${d(m.manifest.config)}`);
    for (const l of m.manifest.layers) ctx.out(`    layer:  ${d(l)}`);
  }
  await ebpfSummary(ctx, store, r.manifests);
  if (r.signatures.length > 0) {
    ctx.out("Signatures:");
    for (const s of r.signatures) ctx.out(`  ${s.annotations?.["org.opencontainers.image.ref.name"]}  ${s.digest}`);
    for (const s of r.signatureDetails) ctx.out(`    ${s.format.padEnd(8)} ${s.digest}${s.format === "referrer" && s.artifactType ? `  ${s.artifactType}` : ""}`);
  }
}

/** Per manifest with an eBPF layer: its maps (type, key/value size, max entries) and programs (section: type/attach target). */
async function ebpfSummary(ctx: CommandContext, store: Awaited<ReturnType<CommandContext["openStore"]>>, manifests: { descriptor: Descriptor; manifest: { layers: Descriptor[] } }[]): Promise<void> {
  const [{ readCollection }, { mapTypeName }, { MediaType }] = await Promise.all([import("../../btf/inspect-info.js"), import("../../btf/bpf-insn.js"), import("../../oci/media-types.js")]);
  for (const m of manifests) {
    const layer = m.manifest.layers.find((l) => l.mediaType === MediaType.EbpfProgram);
    if (!layer) continue;
    ctx.out(`eBPF (${m.descriptor.platform?.architecture ?? "?"}):`);
    let c;
    try {
      c = readCollection(await store.fetchBytes(layer, 512 * 1024 * 1024), `eBPF layer ${layer.digest}`);
    } catch (e) {
      ctx.out(`  (not readable: ${(e as Error).message})`);
      continue;
    }
    for (const map of [...c.maps.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      ctx.out(`  map ${map.name}  ${mapTypeName(map.type)}  key ${map.keySize} B  value ${map.valueSize} B  max entries ${map.maxEntries}`);
    }
    for (const p of c.programs.slice().sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const slash = p.section.indexOf("/");
      const type = slash < 0 ? p.section : p.section.slice(0, slash);
      ctx.out(`  program ${p.name}  ${type}${slash < 0 ? "" : `  ${p.section.slice(slash + 1)}`}  (${p.instructions.length} instructions)`);
    }
  }
}
