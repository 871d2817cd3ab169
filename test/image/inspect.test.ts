/**
 * Gap 1 of issue 17: `gadget image inspect` is ig's `image inspect`.
 *
 * ig, cmd/common/image/inspect.go NewInspectCmd:
 *   outputModes := []string{utils.OutputModeYAML, utils.OutputModeJSON, utils.OutputModeJSONPretty}, default jsonpretty
 *   flags --extra-info, --jsonpath, --show-datasources, plus the oci operator's params (verify-image …)
 *   extraInfoMap[k] = map[string]string{"contentType": …, "content": …}
 *   case OutputModeJSONPretty: bytes, _ := json.MarshalIndent(extraInfoMap, "", "  "); fmt.Fprint(cmd.OutOrStdout(), string(bytes), "\n")
 *   --extra-info: "application/json" content is unmarshalled, "text/yaml" converted (yaml.YAMLToJSON),
 *     other content printed as is; --jsonpath: jsonpath.Get(fmt.Sprintf("$%s", jsonPath), customResult)
 *   errors: "jsonpath %q can only be used with extra info or show-datasources", "extra info %q not found"
 * The keys and contents: pkg/operators/oci-handler/extrainfo.go addExtraInfo (oci.manifest = json.Marshal
 * of the host's manifest, oci.metadata, oci.repository/oci.tag from reference.Parse(ImageName()),
 * oci.digest = manifest.Config.Digest, oci.created), pkg/operators/ebpf/extrainfo.go addExtraInfo
 * (ebpf.sections from debug/elf, ebpf.maps {Name, Type} without .rodata/.bss, ebpf.programs
 * {Section, Source: p.Instructions.String()}, ebpf.variables {Name, Offset, Size, Map}),
 * ebpf2graph GenerateFlowchartMermaidGraph / GenerateSequenceMermaidGraph, and
 * pkg/operators/wasm/extrainfo.go (wasm.gadgetAPIVersion "%d", wasm.upcalls []string).
 * ig's own test, pkg/operators/oci-handler tests TestInspectCmd, expects exactly these keys for an
 * eBPF-only gadget: ebpf.flowchart, ebpf.maps, ebpf.programs, ebpf.sections, ebpf.sequence,
 * ebpf.variables, oci.created, oci.digest, oci.manifest, oci.metadata, oci.repository, oci.tag.
 *
 * The goldens in test/fixtures/golden were made by this implementation; their ebpf.* contents were
 * checked against cilium/ebpf v0.18 (ig's version: LoadCollectionSpec, Instructions.String()) and
 * a Go copy of ig's ebpf2graph on the same objects before they were committed.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FIXTURES, IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, REPO_ROOT, runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry } from "../helpers/registry.js";
import { jsonPath } from "../../core/jsonpath.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { pack } from "../../core/oci/pack.js";
import { sha256 } from "../../core/oci/digest.js";
import { MediaType } from "../../core/oci/media-types.js";

const HOST = process.arch === "arm64" ? "arm64" : "amd64";
const IG_KEYS = ["ebpf.flowchart", "ebpf.maps", "ebpf.programs", "ebpf.sections", "ebpf.sequence", "ebpf.variables", "oci.created", "oci.digest", "oci.manifest", "oci.metadata", "oci.repository", "oci.tag"];

let dir: string;
let cleanup: () => Promise<void>;
let store: string;
let reg: Awaited<ReturnType<typeof startRegistry>> | undefined;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-inspect-"));
  store = join(dir, "store");
  const r = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await reg?.stop();
  await cleanup?.();
});

const g = (args: string[], env: Record<string, string | undefined> = {}) => runGadget([...args, "--oci-store", store], { env });
const WARN_NO_VERIFY = "Warning: image signature verification is disabled due to using corresponding option\n";

describe("gadget image inspect (ig's fixture)", () => {
  it("prints ig's jsonpretty extra info by default: golden bytes", async () => {
    const r = await g(["image", "inspect", "trace_open", "--verify-image=false"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(WARN_NO_VERIFY);
    expect(r.stdout).toBe(await readFile(join(FIXTURES, "golden", `trace_open.inspect.${HOST}.json`), "utf8"));
  });

  it("the other architecture's golden holds too (library, arch given)", async () => {
    const other = HOST === "amd64" ? "arm64" : "amd64";
    const { gadgetExtraInfo } = await import("../../core/image/extra-info.js");
    const { goJson } = await import("../../core/gojson-value.js");
    const s = await LayoutStore.open(store);
    const info = await gadgetExtraInfo(s, await s.resolve("trace_open"), "trace_open", other);
    expect(goJson(info, { pretty: true, sortKeys: true }) + "\n").toBe(await readFile(join(FIXTURES, "golden", `trace_open.inspect.${other}.json`), "utf8"));
  });

  it("on a terminal (script(1)) prints the same bytes", async () => {
    const r = await runCommand("script", ["-qec", `node bin/gadget.js image inspect trace_open --verify-image=false --oci-store '${store}'`, "/dev/null"], { cwd: REPO_ROOT });
    expect(r.code).toBe(0);
    const golden = await readFile(join(FIXTURES, "golden", `trace_open.inspect.${HOST}.json`), "utf8");
    expect(r.stdout.replace(/\r\n/g, "\n")).toBe(WARN_NO_VERIFY + golden);
  });

  it("`-o json | jq keys` lists ig's extra-info keys", async () => {
    const r = await runCommand("sh", ["-c", `node bin/gadget.js image inspect trace_open -o json --verify-image=false --oci-store '${store}' 2>/dev/null | jq -c keys`], { cwd: REPO_ROOT });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify(IG_KEYS)}\n`);
    const j = await g(["image", "inspect", "trace_open", "-o", "json", "--verify-image=false"]);
    // json.Marshal of the map: compact, keys sorted, "content" before "contentType", then "\n"
    expect(j.stdout.startsWith('{"ebpf.flowchart":{"content":"flowchart LR\\nevents[(\\"events\\")]')).toBe(true);
    expect(j.stdout.endsWith('"oci.tag":{"content":"latest","contentType":"text/plain"}}\n')).toBe(true);
  });

  it("oci.* entries: the host's manifest as Go marshals it, the config, the name as written, the config digest", async () => {
    const info = JSON.parse((await g(["image", "inspect", "trace_open", "-o", "json", "--verify-image=false"])).stdout) as Record<string, { content: string; contentType: string }>;
    const manifestDigest = HOST === "amd64" ? "20a6646251ab1273da15f6f3588a8fef4c6934f3dd88937db93a61dd652c66df" : "cd2462744cabf334e6b4eb3a0079063a276e067db50ebbf423bcd9af22194989";
    expect(info["oci.manifest"]).toEqual({ contentType: "application/json", content: await readFile(join(store, "blobs", "sha256", manifestDigest), "utf8") });
    expect(info["oci.metadata"]!.content).toBe(await readFile(join(store, "blobs", "sha256", "4326d8996b54290ca8e8422cf7119ccb7822650ae40837805f5ff867250ca2fe"), "utf8"));
    expect(info["oci.digest"]!.content).toBe("sha256:4326d8996b54290ca8e8422cf7119ccb7822650ae40837805f5ff867250ca2fe");
    expect(info["oci.created"]!.content).toBe("2024-05-15T18:45:32Z");
    expect([info["oci.repository"]!.content, info["oci.tag"]!.content]).toEqual(["trace_open", "latest"]);
    const full = JSON.parse((await g(["image", "inspect", "ghcr.io/inspektor-gadget/gadget/trace_open:latest", "-o", "json", "--verify-image=false"])).stdout);
    expect(full["oci.repository"].content).toBe("ghcr.io/inspektor-gadget/gadget/trace_open");
    expect(JSON.parse(info["ebpf.maps"]!.content)).toEqual([
      { Name: "events", Type: "RingBuf" },
      { Name: "gadget_heap", Type: "PerCPUArray" },
      { Name: "gadget_mntns_filter_map", Type: "Hash" },
      { Name: "start", Type: "Hash" },
    ]);
    expect(JSON.parse(info["ebpf.sections"]!.content).slice(0, 3)).toEqual(["", ".strtab", ".text"]);
  });

  it("--extra-info prints one entry's content; --jsonpath picks into it; -o yaml as sigs.k8s.io/yaml", async () => {
    const flow = await g(["image", "inspect", "trace_open", "--verify-image=false", "--extra-info", "ebpf.flowchart"]);
    expect(flow.stdout.startsWith("flowchart LR\nevents[(\"events\")]\n")).toBe(true);
    expect(flow.stdout.endsWith('ig_openat_x["ig_openat_x"]\n\n')).toBe(true); // the content ends in \n, ig adds one
    const layers = await g(["image", "inspect", "trace_open", "--verify-image=false", "--extra-info", "oci.manifest", "--jsonpath", ".layers[*].mediaType", "-o", "yaml"]);
    expect(layers.stdout).toBe("- application/vnd.gadget.ebpf.program.v1+binary\n");
    const js = await g(["image", "inspect", "trace_open", "--verify-image=false", "--extra-info", "oci.manifest", "--jsonpath", ".config.size", "-o", "json"]);
    expect(js.stdout).toBe("1576\n");
    const meta = await g(["image", "inspect", "trace_open", "--verify-image=false", "--extra-info", "oci.metadata", "--jsonpath", ".name"]);
    expect(meta.stdout).toBe("trace open\n");
    const manifest = await g(["image", "inspect", "trace_open", "--verify-image=false", "--extra-info", "oci.manifest"]);
    // Go re-marshals the unmarshalled map: keys sorted, two-space indent
    expect(manifest.stdout.startsWith('{\n  "annotations": {\n    "org.opencontainers.image.created": "2024-05-15T18:45:32Z",')).toBe(true);
    expect(manifest.stdout.split("\n").filter((l) => /^ {2}"/.test(l)).map((l) => l.trim().split('"')[1])).toEqual(["annotations", "config", "layers", "schemaVersion"]);
    const tag = await g(["image", "inspect", "trace_open", "--verify-image=false", "--extra-info", "oci.tag", "-o", "yaml"]);
    expect(tag.stdout).toBe("latest\n");
  });

  it("usage errors use ig's words (exit 2); --show-datasources is refused with a pointer to ig", async () => {
    const cases: [string[], RegExp][] = [
      [["--jsonpath", ".x"], /^Error: invalid usage: jsonpath "\.x" can only be used with extra info or show-datasources$/],
      [["--extra-info", "nope"], /^Error: invalid usage: extra info "nope" not found$/],
      [["--extra-info", "oci.tag", "--jsonpath", ".x"], /^Error: invalid usage: jsonpath "\.x" can only be used with JSON or YAML content$/],
      [["--extra-info", "oci.manifest", "--jsonpath", ".nothere[*]"], /^Error: invalid usage: resolving path "\.nothere\[\*\]": unknown key nothere$/],
      [["--extra-info", "oci.manifest", "--jsonpath", ".layers[*].nothere"], /^Error: invalid usage: path "\.layers\[\*\]\.nothere" not found in extra info "oci\.manifest"$/],
      [["-o", "columns"], /^Error: invalid usage: invalid output mode "columns", valid values are: yaml, json, jsonpretty, summary$/],
      [["--show-datasources"], /^Error: invalid usage: --show-datasources is not supported/],
      [["--pull", "sometimes"], /^Error: invalid usage: invalid value "sometimes" for --pull$/],
    ];
    for (const [args, re] of cases) {
      const r = await g(["image", "inspect", "trace_open", "--verify-image=false", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n").find((l) => l.startsWith("Error:")), args.join(" ")).toMatch(re);
      expect(r.stdout).toBe("");
    }
  });
});

describe("image policy (ig's ensureImage)", () => {
  it("--allowed-gadgets: name, name@digest or prefix*; others are refused with ig's message", async () => {
    const ok = ["ghcr.io/inspektor-gadget/gadget/trace_open:latest", `ghcr.io/inspektor-gadget/gadget/trace_open@${IG_FIXTURE_INDEX_DIGEST}`, "ghcr.io/inspektor-gadget/*"];
    for (const a of ok) expect((await g(["image", "inspect", "trace_open", "--verify-image=false", "--allowed-gadgets", a, "--extra-info", "oci.tag"])).code, a).toBe(0);
    const no = await g(["image", "inspect", "trace_open", "--verify-image=false", "--allowed-gadgets", "ghcr.io/other/*,x:v1"]);
    expect(no.code).toBe(1);
    expect(no.stderr).toBe("Error: checking allowed gadgets (trace_open): trace_open is not part of allowed gadgets: ghcr.io/other/*, x:v1\n");
  });

  it("--pull never only looks in the store; --disallow-pulling refuses to pull", async () => {
    const never = await g(["image", "inspect", "127.0.0.1:1/absent:v1", "--pull", "never", "--verify-image=false"]);
    expect(never.code).toBe(1);
    expect(never.stderr.split("\n")[0]).toBe("Error: resolving image on local registry (127.0.0.1:1/absent:v1): not found");
    const dis = await g(["image", "inspect", "127.0.0.1:1/absent:v1", "--disallow-pulling", "--verify-image=false"]);
    expect(dis.code).toBe(1);
    expect(dis.stderr.split("\n")[0]).toBe('Error: pulling image (missing) "127.0.0.1:1/absent:v1" (127.0.0.1:1/absent:v1): pulling is disallowed');
  });

  it("verification is on by default: signatures missing locally come from the registry; unsigned and unreachable fail with ig's words", async () => {
    reg = await startRegistry();
    const ref = `${reg.host}/inspect/trace_open:v1`;
    const signed = join(dir, "signed");
    expect((await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", signed])).code).toBe(0);
    expect((await runGadget(["image", "tag", "trace_open", ref, "--oci-store", signed])).code).toBe(0);
    // pushed unsigned: the registry has no signature for it
    expect((await runGadget(["image", "push", ref, "--insecure-registries", reg.host, "--oci-store", signed])).code).toBe(0);
    const copy = join(dir, "unsigned-copy");
    execFileSync("cp", ["-a", signed, copy]);
    const unsigned = await runGadget(["image", "inspect", ref, "--insecure-registries", reg.host, "--oci-store", copy]);
    expect(unsigned.code).toBe(1);
    // pkg/oci/signature_error.go signaturePullError: "no signature found for gadget %s\n%s" with skipVerificationHint
    expect(unsigned.stderr).toBe(`Error: verifying image (${ref}): no signature found for gadget ${ref}\nhint: if the gadget is not signed and you are sure you want to skip signature verification, pass --verify-image=false\n`);

    // sign in the first store and push again: the signature travels to the registry
    const keygen = await runGadget(["image", "keygen", "--output-prefix", join(dir, "k")]);
    expect(keygen.code, keygen.stderr).toBe(0);
    expect((await runGadget(["image", "sign", ref, "--key", join(dir, "k.key"), "--oci-store", signed])).code).toBe(0);
    expect((await runGadget(["image", "push", ref, "--insecure-registries", reg.host, "--oci-store", signed])).code).toBe(0);
    // the copy has the image but not its signature: inspect fetches it, then verifies
    const ok = await runGadget(["image", "inspect", ref, "--insecure-registries", reg.host, "--public-keys", join(dir, "k.pub"), "--extra-info", "oci.tag", "--oci-store", copy]);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe("v1\n");
    const wrongKey = await runGadget(["image", "inspect", ref, "--insecure-registries", reg.host, "--oci-store", copy]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toBe(`Error: verifying image (${ref}): the image was not signed by the provided keys\n`);
    // a fresh store: --pull missing pulls image and signature
    const fresh = await runGadget(["image", "inspect", ref, "--insecure-registries", reg.host, "--public-keys", join(dir, "k.pub"), "--extra-info", "oci.repository", "--oci-store", join(dir, "fresh")]);
    expect(fresh.stderr).toBe("");
    expect(fresh.stdout).toBe(`${ref.slice(0, -3)}\n`);

    // unreachable registry (nothing listens on port 1)
    const far = join(dir, "far");
    expect((await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", far])).code).toBe(0);
    expect((await runGadget(["image", "tag", "trace_open", "127.0.0.1:1/x/trace_open:v1", "--oci-store", far])).code).toBe(0);
    const down = await runGadget(["image", "inspect", "127.0.0.1:1/x/trace_open:v1", "--insecure-registries", "127.0.0.1:1", "--oci-store", far], { env: { GADGET_REGISTRY_RETRIES: "0" } });
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(
      "Error: verifying image (127.0.0.1:1/x/trace_open:v1): fetching the signature for gadget 127.0.0.1:1/x/trace_open:v1: 127.0.0.1:1 is unreachable\n" +
        "hint: if you are running air-gapped, pull the gadget while online, as its signature is pulled along with it; otherwise pass --verify-image=false\n",
    );
  }, 120_000);
});

describe("wasm extra info", () => {
  it("wasm.upcalls lists the module's imports from `ig`; wasm.gadgetAPIVersion is what gadgetAPIVersion() returns", async () => {
    const wat = join(dir, "m.wat");
    await writeFile(
      wat,
      `(module
  (import "ig" "gadgetLog" (func (param i32 i64)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (import "ig" "getDataSource" (func (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "gadgetAPIVersion") (result i64) i64.const 1))\n`,
    );
    execFileSync("wat2wasm", [wat, "-o", join(dir, "m.wasm")]);
    const wasm = await readFile(join(dir, "m.wasm"));
    const s = await LayoutStore.open(join(dir, "wasm-store"));
    const packed = pack({ archs: ["amd64", "arm64"], layers: { amd64: { wasm: { digest: sha256(wasm), size: wasm.length } }, arm64: { wasm: { digest: sha256(wasm), size: wasm.length } } }, created: "2024-01-01T00:00:00Z", builderVersion: "test" });
    await s.push({ mediaType: MediaType.WasmProgram, digest: sha256(wasm), size: wasm.length }, wasm);
    await s.push({ mediaType: MediaType.Empty, digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 }, Buffer.from("{}"));
    for (const m of packed.manifests) await s.push(m.descriptor, m.bytes);
    await s.push(packed.index.descriptor, packed.index.bytes);
    await s.tag(packed.index.descriptor, "wasmonly:v1");
    const r = await runGadget(["image", "inspect", "wasmonly:v1", "-o", "json", "--verify-image=false", "--oci-store", join(dir, "wasm-store")]);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(Object.keys(info)).toEqual(["oci.created", "oci.digest", "oci.manifest", "oci.metadata", "oci.repository", "oci.tag", "wasm.gadgetAPIVersion", "wasm.upcalls"]);
    expect(info["wasm.upcalls"]).toEqual({ contentType: "application/json", content: '["gadgetLog","getDataSource"]' });
    expect(info["wasm.gadgetAPIVersion"]).toEqual({ contentType: "text/plain", content: "1" });
    expect(info["oci.metadata"].content).toBe("{}");
  });
});

describe("JSONPath (PaesslerAG/jsonpath as ig uses it)", () => {
  const doc = { a: { b: [1, 2, 3], c: "x" }, list: [{ n: "p" }, { n: "q", deep: { n: "r" } }] };
  it("plain paths give one value; wildcards, unions, slices and .. give a flat list", () => {
    expect(jsonPath(doc, "$.a.c")).toBe("x");
    expect(jsonPath(doc, "$.a.b[1]")).toBe(2);
    expect(jsonPath(doc, "$.a.b[-1]")).toBe(3);
    expect(jsonPath(doc, "$['a']['c']")).toBe("x");
    expect(jsonPath(doc, "$.list[*].n")).toEqual(["p", "q"]);
    expect(jsonPath(doc, "$.a.b[0,2]")).toEqual([1, 3]);
    expect(jsonPath(doc, "$.a.b[1:]")).toEqual([2, 3]);
    expect(jsonPath(doc, "$..n")).toEqual(["p", "q", "r"]);
    expect(() => jsonPath(doc, "$.a.zz")).toThrow(/unknown key zz/);
    expect(() => jsonPath(doc, "$.list[?(@.n == 'p')]")).toThrow(/not supported/);
  });
});
