/**
 * Every CLI command: its words, flags and a lazy loader for its implementation module (so
 * `gadget --version` and `gadget image list` load only what they use).
 */
import type { FlagSpec } from "./args.js";
import type { CommandContext } from "./context.js";

export interface CommandModule {
  run(ctx: CommandContext): Promise<number | void>;
}

export interface CommandSpec {
  words: string[];
  aliases?: string[];
  summary: string;
  usage: string;
  flags: FlagSpec[];
  args: { min: number; max: number };
  load: () => Promise<CommandModule>;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "oci-store", type: "string", value: "DIR", description: "local OCI store (default: /var/lib/ig/oci-store as root, ~/.ig/oci-store otherwise; env GADGET_OCI_STORE)" },
  { name: "verbose", short: "v", type: "boolean", description: "verbose output (stack traces on errors; env GADGET_DEBUG=1)" },
  { name: "help", short: "h", type: "boolean", description: "help for this command" },
];

const JSON_FLAG: FlagSpec = { name: "json", type: "boolean", description: "print the result as one JSON document" };

const TIMEOUT_FLAG: FlagSpec = {
  name: "timeout",
  type: "string",
  value: "DURATION",
  description: "deadline for the whole registry operation, e.g. 90s, 30m (default 10m; 0 = none; env GADGET_REGISTRY_TIMEOUT); a request with no data for 30 s (or the deadline, when shorter) fails",
};

/** The remote cache's repository and the registry flags to reach it (cache ls/prune --remote). */
const REMOTE_CACHE_FLAGS: FlagSpec[] = [
  { name: "remote-cache", type: "string", value: "REF", description: "the remote cache repository (default: GADGET_REMOTE_CACHE, else the gadgetfile's cache.remote)" },
  { name: "authfile", type: "string", value: "FILE", description: "auth file (env REGISTRY_AUTH_FILE)" },
  { name: "cert-dir", type: "string", value: "DIR", description: "directory with ca.crt, client.cert, client.key (env GADGET_CERT_DIR)" },
  { name: "insecure-registries", type: "list", value: "HOSTS", description: "comma-separated registries reached over plain HTTP (env GADGET_INSECURE_REGISTRIES)" },
];

const ALLOW_UNSAFE_CFLAGS_FLAG: FlagSpec = {
  name: "allow-unsafe-cflags",
  type: "boolean",
  description: "allow cflags that load code into clang (-fplugin, -fpass-plugin, -Xclang -load, -B, --ld-path, @file; env GADGET_ALLOW_UNSAFE_CFLAGS=1): only for gadget folders you trust",
};

const REGISTRY_FLAGS: FlagSpec[] = [
  { name: "authfile", type: "string", value: "FILE", description: "auth file (default /var/lib/ig/config.json as root, ~/.ig/config.json; env REGISTRY_AUTH_FILE)" },
  { name: "insecure-registries", type: "list", value: "HOSTS", description: "comma-separated registries to reach over plain HTTP" },
  { name: "insecure", type: "boolean", description: "use plain HTTP for this reference's registry (older ig flag)", hidden: true },
  { name: "cert-dir", type: "string", value: "DIR", description: "directory with ca.crt, client.cert, client.key (docker certs.d layout)" },
  { name: "concurrency", type: "string", value: "N", description: "parallel blob transfers per registry (default 4)" },
  TIMEOUT_FLAG,
];

/** `gadget image check` and `gadget check`. */
const CHECK_FLAGS: FlagSpec[] = [
  { name: "kernels", type: "list", value: "LIST", description: "comma-separated: host and/or vmlinuz files booted with qemu (default host)" },
  { name: "baseline", type: "string", value: "FILE", description: "a saved --json run: flag programs whose verifier instructions grew" },
  { name: "threshold", type: "string", value: "PCT", description: "growth (percent) that --baseline flags (default 10)" },
  { name: "accel", type: "string", value: "ACCEL", description: "qemu accelerator: tcg (default) or kvm" },
  { name: "timeout", type: "string", value: "DUR", description: "watchdog per VM, e.g. 90s (default 120s + 15s per object)" },
  { name: "no-cache", type: "boolean", description: "load again even when a result is cached" },
];

export const COMMANDS: CommandSpec[] = [
  {
    words: ["image", "list"],
    aliases: ["ls"],
    summary: "List gadget images in the local store",
    usage: "gadget image list [--no-trunc] [-o columns|json|jsonpretty]",
    flags: [
      { name: "no-trunc", type: "boolean", description: "show full digests and RFC 3339 times" },
      { name: "output", short: "o", type: "string", value: "FORMAT", description: "columns, json or jsonpretty", default: "columns" },
    ],
    args: { min: 0, max: 0 },
    load: () => import("./commands/image-list.js"),
  },
  {
    words: ["image", "tag"],
    summary: "Tag an image in the local store with another name",
    usage: "gadget image tag SRC_IMAGE DST_IMAGE",
    flags: [JSON_FLAG],
    args: { min: 2, max: 2 },
    load: () => import("./commands/image-tag.js"),
  },
  {
    words: ["image", "remove"],
    aliases: ["rm"],
    summary: "Remove an image from the local store",
    usage: "gadget image remove IMAGE",
    flags: [JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-remove.js"),
  },
  {
    words: ["image", "inspect"],
    summary: "Inspect a gadget image (ig's extra info: oci.*, ebpf.*, wasm.*)",
    usage: "gadget image inspect IMAGE [-o jsonpretty|json|yaml|summary] [--extra-info KEY [--jsonpath EXPR]] [--verify-image=false] [--public-keys K] [--pull missing|always|never] [--json]",
    flags: [
      { name: "output", short: "o", type: "string", value: "MODE", description: "jsonpretty (default), json or yaml: ig's extra info; summary: index, manifests, layers, annotations, signatures", default: "jsonpretty" },
      { name: "extra-info", type: "string", value: "KEY", description: "print one entry's content, e.g. oci.manifest, ebpf.maps, ebpf.flowchart" },
      { name: "jsonpath", type: "string", value: "EXPR", description: "JSONPath into --extra-info's content, e.g. .layers[*].mediaType" },
      { name: "show-datasources", type: "boolean", description: "not supported (ig builds data sources with its operators)", hidden: true },
      { name: "verify-image", type: "boolean", description: "verify the image's signature (signatures missing locally are fetched from its registry)", default: true },
      { name: "public-keys", type: "list", value: "KEYS", description: "PEM public keys (files or contents) to verify with (default: Inspektor Gadget's key)" },
      { name: "allowed-gadgets", type: "list", value: "LIST", description: "only these images (name, name@digest or prefix*) may be inspected" },
      { name: "pull", type: "string", value: "POLICY", description: "missing (default), always or never", default: "missing" },
      { name: "disallow-pulling", type: "boolean", description: "never pull from a registry" },
      ...REGISTRY_FLAGS,
      { name: "json", type: "boolean", description: "print gadget's own summary as one JSON document" },
    ],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-inspect.js"),
  },
  {
    words: ["image", "build"],
    summary: "Build a gadget folder into the local store (ig-compatible)",
    usage: "gadget image build PATH [-f FILE] [-t TAG] [-o DIR] [--local] [--update-metadata] [--validate-metadata=false] [--btfgen --btfhub-archive DIR] [--builder-version V] [--arch amd64,arm64] [--allow-unsafe-cflags] [--json]",
    flags: [
      { name: "file", short: "f", type: "string", value: "FILE", description: "build file (default PATH/build.yaml)" },
      { name: "tag", short: "t", type: "string", value: "TAG", description: "name and tag for the image" },
      { name: "output", short: "o", type: "string", value: "DIR", description: "ig's output directory for intermediate files" },
      { name: "local", short: "l", type: "boolean", description: "build with the tools on PATH (the default and only mode)" },
      { name: "builder-image", type: "string", value: "IMAGE", description: "not supported: gadget always builds with local tools" },
      { name: "builder-image-pull", type: "string", value: "POLICY", description: "ig's builder image pull policy (always, missing, never): accepted and checked, no effect (no container build)" },
      { name: "builder-version", type: "string", value: "VERSION", description: "io.inspektor-gadget.builder.version, e.g. v0.41.0 (default: env GADGET_BUILDER_VERSION, else `ig version` of an ig on PATH, else gadget's own)" },
      { name: "update-metadata", type: "boolean", description: "create or extend gadget.yaml from the program" },
      { name: "validate-metadata", type: "boolean", description: "check gadget.yaml against the program's BTF", default: true },
      { name: "btfgen", type: "boolean", description: "generate minimal BTF for the kernels of --btfhub-archive" },
      { name: "btfhub-archive", type: "string", value: "DIR", description: "btfhub-archive directory for --btfgen" },
      { name: "arch", type: "list", value: "ARCHS", description: "architectures (default amd64,arm64)" },
      ALLOW_UNSAFE_CFLAGS_FLAG,
      JSON_FLAG,
    ],
    args: { min: 0, max: 1 },
    load: () => import("./commands/image-build.js"),
  },
  {
    words: ["image", "check"],
    summary: "Load an image's eBPF programs into the verifier of the host and other kernels",
    usage: "gadget image check IMAGE [--kernels host,/boot/vmlinuz-…] [--json] [--baseline FILE.json] [--threshold PCT] [--accel tcg|kvm] [--timeout DUR] [--no-cache]",
    flags: [...CHECK_FLAGS, JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-check.js"),
  },
  {
    words: ["image", "pull"],
    summary: "Pull an image from a registry into the local store",
    usage: "gadget image pull IMAGE",
    flags: [...REGISTRY_FLAGS, JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-pull.js"),
  },
  {
    words: ["image", "push"],
    summary: "Push an image from the local store to a registry",
    usage: "gadget image push IMAGE",
    flags: [...REGISTRY_FLAGS, { name: "skip-signatures", type: "boolean", description: "do not push the image's signatures (sent along by default)" }, JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-push.js"),
  },
  {
    words: ["image", "copy"],
    summary: "Copy images between registries, the local store, OCI layouts and archives",
    usage: "gadget image copy SRC DST [--all-tags] [--skip-signatures] [--concurrency N] [--json]   (SRC/DST: REF, docker://REF, store:[IMAGE], oci:DIR[:IMAGE], oci-archive:FILE[:IMAGE])",
    flags: [
      { name: "all-tags", type: "boolean", description: "copy every tag of the source repository (or every image of a local source)" },
      { name: "skip-signatures", type: "boolean", description: "leave the image's signatures (.sig tag, referrers) behind" },
      ...REGISTRY_FLAGS,
      JSON_FLAG,
    ],
    args: { min: 2, max: 2 },
    load: () => import("./commands/image-copy.js"),
  },
  {
    words: ["image", "mirror"],
    summary: "Copy many images into one registry (retries, bounded concurrency, reruns skip what is there)",
    usage: "gadget image mirror FILE|-- REF… --to REGISTRY[/PREFIX] [--jobs N] [--skip-signatures] [--json]   (FILE: one reference per line, - for stdin)",
    flags: [
      { name: "to", type: "string", value: "REGISTRY[/PREFIX]", description: "destination registry and optional repository prefix: REF lands at REGISTRY/PREFIX/<its repository>:<tag>" },
      { name: "jobs", short: "j", type: "string", value: "N", description: "images copied at once (default 4)" },
      { name: "skip-signatures", type: "boolean", description: "leave the images' signatures behind" },
      ...REGISTRY_FLAGS,
      JSON_FLAG,
    ],
    args: { min: 0, max: Number.POSITIVE_INFINITY },
    load: () => import("./commands/image-mirror.js"),
  },
  {
    words: ["image", "tags"],
    summary: "List a registry repository's tags (every page)",
    usage: "gadget image tags REPOSITORY [--json]",
    flags: [...REGISTRY_FLAGS.filter((f) => f.name !== "concurrency"), JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-tags.js"),
  },
  {
    words: ["image", "digest"],
    summary: "Print the digest a registry reference points at, without pulling",
    usage: "gadget image digest IMAGE [--json]",
    flags: [...REGISTRY_FLAGS.filter((f) => f.name !== "concurrency"), JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-digest.js"),
  },
  {
    words: ["image", "export"],
    summary: "Export images to a tar file (OCI layout)",
    usage: "gadget image export IMAGE [IMAGE…] FILE",
    flags: [JSON_FLAG],
    args: { min: 2, max: Number.POSITIVE_INFINITY },
    load: () => import("./commands/image-export.js"),
  },
  {
    words: ["image", "import"],
    summary: "Import images from a tar file (OCI layout)",
    usage: "gadget image import FILE [-o json|jsonpretty]",
    flags: [{ name: "output", short: "o", type: "string", value: "FORMAT", description: "json or jsonpretty" }, JSON_FLAG],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-import.js"),
  },
  {
    words: ["image", "sign"],
    summary: "Sign an image's index digest (cosign-compatible)",
    usage: "gadget image sign IMAGE --key FILE|env://VAR|- [--format legacy|oci11|bundle] [-a key=value] [--force]",
    flags: [
      { name: "key", type: "string", value: "KEY", description: "PEM private key: a file, env://VAR (a variable holding the PEM, e.g. a CI secret) or - (stdin); ECDSA P-256, RSA or Ed25519 (PKCS#8 may be encrypted: COSIGN_PASSWORD or a prompt). Never the key itself as the argument" },
      { name: "force", type: "boolean", description: "sign again even when a valid signature by this key already exists (default: keep it, nothing to do)" },
      { name: "format", type: "string", value: "FORMAT", description: "legacy (cosign .sig tag, default), oci11 (referrer) or bundle (sigstore bundle referrer)", default: "legacy" },
      { name: "annotations", short: "a", type: "list", value: "KEY=VALUE", description: "extra claims in the signed payload's \"optional\" (as cosign -a)" },
      JSON_FLAG,
    ],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-sign.js"),
  },
  {
    words: ["image", "verify"],
    summary: "Verify an image's signatures with public keys",
    usage: "gadget image verify IMAGE [--public-keys K1[,K2]] [--pull missing|always|never] [--authfile F] [--insecure-registries H]",
    flags: [
      { name: "public-keys", type: "list", value: "KEYS", description: "comma-separated PEM public keys: files or PEM contents as ig takes them (default: Inspektor Gadget's key)" },
      { name: "pull", type: "string", value: "POLICY", description: "when to pull the image: missing (default), always or never", default: "missing" },
      { name: "notation-certificates", type: "string", value: "CERTS", description: "not supported (notation signatures)", hidden: true },
      { name: "notation-policy-document", type: "string", value: "FILE", description: "not supported (notation signatures)", hidden: true },
      ...REGISTRY_FLAGS,
      JSON_FLAG,
    ],
    args: { min: 1, max: 1 },
    load: () => import("./commands/image-verify.js"),
  },
  {
    words: ["image", "keygen"],
    summary: "Write a signing key pair (cosign.key, cosign.pub)",
    usage: "gadget image keygen [--type ecdsa|rsa|ed25519] [--output-prefix PREFIX]",
    flags: [
      { name: "type", type: "string", value: "TYPE", description: "ecdsa (P-256, default), rsa or ed25519", default: "ecdsa" },
      { name: "output-prefix", type: "string", value: "PREFIX", description: "file prefix (default cosign)", default: "cosign" },
      JSON_FLAG,
    ],
    args: { min: 0, max: 0 },
    load: () => import("./commands/image-keygen.js"),
  },
  {
    words: ["image", "fsck"],
    summary: "Check the local store (exit 1 only for problems; garbage is reported, --repair or prune removes it)",
    usage: "gadget image fsck [--repair]",
    flags: [{ name: "repair", type: "boolean", description: "remove unreachable blobs and stale temp files; move corrupt blobs aside to .corrupt/ (pull again to restore them)" }, JSON_FLAG],
    args: { min: 0, max: 0 },
    load: () => import("./commands/image-fsck.js"),
  },
  {
    words: ["image", "prune"],
    summary: "Remove unreachable blobs and stale temp files from the local store",
    usage: "gadget image prune [--dry-run] [--json]",
    flags: [{ name: "dry-run", type: "boolean", description: "print what would be removed, remove nothing (also while another gadget process writes)" }, JSON_FLAG],
    args: { min: 0, max: 0 },
    load: () => import("./commands/image-prune.js"),
  },
  {
    words: ["login"],
    summary: "Log in to a registry",
    usage: "gadget login REGISTRY [-u USER] [-p PASSWORD | --password-stdin]",
    flags: [
      { name: "username", short: "u", type: "string", value: "USER", description: "user name" },
      { name: "password", short: "p", type: "string", value: "PASSWORD", description: "password (prefer --password-stdin)" },
      { name: "password-stdin", type: "boolean", description: "read the password from stdin" },
      { name: "authfile", type: "string", value: "FILE", description: "auth file to write" },
      { name: "compat-auth-file", type: "string", value: "FILE", description: "a Docker-compatible config file to write instead (containers' flag; same format)" },
      { name: "get-login", type: "boolean", description: "print the user logged in to REGISTRY" },
      { name: "cert-dir", type: "string", value: "DIR", description: "directory with ca.crt, client.cert, client.key" },
      { name: "tls-verify", type: "boolean", description: "verify TLS certificates", default: true },
      { name: "plain-http", type: "boolean", description: "use plain HTTP" },
      TIMEOUT_FLAG,
    ],
    args: { min: 0, max: 1 },
    load: () => import("./commands/login.js"),
  },
  {
    words: ["logout"],
    summary: "Log out of a registry",
    usage: "gadget logout REGISTRY | --all",
    flags: [
      { name: "all", short: "a", type: "boolean", description: "remove every login" },
      { name: "authfile", type: "string", value: "FILE", description: "auth file" },
      { name: "compat-auth-file", type: "string", value: "FILE", description: "a Docker-compatible config file to edit instead" },
    ],
    args: { min: 0, max: 1 },
    load: () => import("./commands/logout.js"),
  },
  {
    words: ["run"],
    summary: "Run tasks from the nearest gadgetfile.ts (default task: build)",
    usage: "gadget run [TASK…] [--only NAME,…] [--jobs N] [--dry] [--explain] [--no-cache] [--remote-cache REF [--remote-cache-read-only]] [--watch [--exec CMD…] [--exec-grace 3s]] [--typecheck] [--validate-metadata=false] [-f FILE] [--keep-going | --fail-fast] [--keep-old] [--json] [--json-file FILE] [--profile FILE] [--authfile FILE] [--cert-dir DIR] [--insecure-registries HOSTS] [--timeout DURATION] [--allow-unsafe-cflags]",
    flags: [
      { name: "only", type: "list", value: "NAMES", description: "only these gadgets (names or folders, globs allowed: --only 'net/*,trace_open')" },
      { name: "jobs", short: "j", type: "string", value: "N", description: "steps run at once (default: CPU count)" },
      { name: "dry", type: "boolean", description: "print the plan, run nothing" },
      { name: "explain", type: "boolean", description: "say why each step hit or missed the cache" },
      { name: "no-cache", type: "boolean", description: "ignore the cache" },
      { name: "remote-cache", type: "string", value: "REF", description: "the step cache's registry tier, e.g. ghcr.io/acme/gadget-cache (env GADGET_REMOTE_CACHE; the gadgetfile's cache.remote; off: none)" },
      { name: "remote-cache-read-only", type: "boolean", description: "read the remote cache, never write it (env GADGET_REMOTE_CACHE_READ_ONLY=1; pull-request builds)" },
      { name: "watch", short: "w", type: "boolean", description: "rebuild on change" },
      { name: "exec", type: "string", value: "CMD", description: "with --watch: (re)start CMD for each gadget whose image changed, e.g. 'ig run {ref}' (repeatable; placeholders {ref} {digest} {name} {dir}; no shell unless sh -c '…')", repeatable: true },
      { name: "exec-grace", type: "string", value: "DURATION", description: "how long an --exec instance gets after SIGINT, then after SIGTERM, before SIGKILL (default 3s)" },
      { name: "typecheck", type: "boolean", description: "type-check the gadgetfile and local stages first (gadget typecheck)" },
      { name: "validate-metadata", type: "boolean", description: "check gadget.yaml against the program's BTF (default: the gadgetfile's validateMetadata, else true)" },
      { name: "file", short: "f", type: "string", value: "FILE", description: "gadgetfile (default: the nearest gadgetfile.ts, here or in a folder above)" },
      { name: "keep-going", type: "boolean", description: "publish the gadgets that built even when others failed (default: a publish is all or nothing)" },
      { name: "fail-fast", type: "boolean", description: "start no new step after the first failure" },
      { name: "keep-old", type: "boolean", description: "keep the images a rebuild re-tags away from (default: their blobs that nothing else uses are removed at the end of the run)" },
      { name: "json-file", type: "string", value: "FILE", description: "write the run's summary (gadgets, steps, cache hits, digests, what each publish target did) to FILE, also when the run fails early" },
      { name: "profile", type: "string", value: "FILE", description: "write a Chrome trace (open in Perfetto or chrome://tracing): a lane per gadget and arch, a span per step, its time queued for a --jobs slot" },
      { name: "authfile", type: "string", value: "FILE", description: "auth file for the publish targets (env REGISTRY_AUTH_FILE; a target's authfile wins)" },
      { name: "cert-dir", type: "string", value: "DIR", description: "directory with ca.crt, client.cert, client.key for the publish targets (env GADGET_CERT_DIR; a target's certDir wins)" },
      { name: "insecure-registries", type: "list", value: "HOSTS", description: "comma-separated registries the publish targets reach over plain HTTP (env GADGET_INSECURE_REGISTRIES)" },
      TIMEOUT_FLAG,
      ALLOW_UNSAFE_CFLAGS_FLAG,
      JSON_FLAG,
    ],
    args: { min: 0, max: Number.POSITIVE_INFINITY },
    load: () => import("./commands/run.js"),
  },
  {
    words: ["check"],
    summary: "Build, then load every gadget's programs into the verifier of the host and other kernels",
    usage: "gadget check [GADGET…] [--kernels host,/boot/vmlinuz-…] [--json] [--baseline FILE.json] [--threshold PCT] [--accel tcg|kvm] [--timeout DUR] [--no-cache] [-f FILE] [--jobs N]",
    flags: [...CHECK_FLAGS, { name: "file", short: "f", type: "string", value: "FILE", description: "gadgetfile (default: the nearest gadgetfile.ts)" }, { name: "jobs", short: "j", type: "string", value: "N", description: "steps run at once (default: CPU count)" }, JSON_FLAG],
    args: { min: 0, max: Number.POSITIVE_INFINITY },
    load: () => import("./commands/check.js"),
  },
  {
    words: ["typecheck"],
    summary: "Type-check the gadgetfile and its local stages (needs TypeScript)",
    usage: "gadget typecheck [-f FILE] [--json]",
    flags: [{ name: "file", short: "f", type: "string", value: "FILE", description: "gadgetfile (default: the nearest gadgetfile.ts)" }, JSON_FLAG],
    args: { min: 0, max: 0 },
    load: () => import("./commands/typecheck.js"),
  },
  {
    words: ["cache", "prune"],
    summary: "Shrink the step cache (.gadget/): old, then least recently used entries",
    usage: "gadget cache prune [--max-size SIZE] [--older-than DURATION] [-f FILE] [--json] | --remote --older-than DURATION [--remote-cache REF]",
    flags: [
      { name: "remote", type: "boolean", description: "prune the remote cache (needs --older-than; deletes entries and their signatures by digest: the registry must allow deletes)" },
      ...REMOTE_CACHE_FLAGS,
      { name: "max-size", type: "string", value: "SIZE", description: "keep at most this much, least recently used out first (e.g. 500M, 2G, 1GiB; default: GADGET_CACHE_MAX_SIZE or 2G)" },
      { name: "older-than", type: "string", value: "DURATION", description: "remove entries not used for this long (e.g. 12h, 7d, 2w)" },
      { name: "file", short: "f", type: "string", value: "FILE", description: "gadgetfile whose cache to prune (default: the nearest gadgetfile.ts)" },
      JSON_FLAG,
    ],
    args: { min: 0, max: 0 },
    load: () => import("./commands/cache-prune.js"),
  },
  {
    words: ["cache", "ls"],
    summary: "List the step cache's entries (local .gadget/, or with --remote the registry's)",
    usage: "gadget cache ls [--remote [--remote-cache REF]] [-f FILE] [--json]",
    flags: [
      { name: "remote", type: "boolean", description: "list the remote cache (--remote-cache, GADGET_REMOTE_CACHE or the gadgetfile's cache.remote)" },
      ...REMOTE_CACHE_FLAGS,
      { name: "file", short: "f", type: "string", value: "FILE", description: "gadgetfile (default: the nearest gadgetfile.ts)" },
      JSON_FLAG,
    ],
    args: { min: 0, max: 0 },
    load: () => import("./commands/cache-ls.js"),
  },
  {
    words: ["init"],
    summary: "Scaffold a gadget, or with --monorepo a repository of gadgets and stages",
    usage: "gadget init [DIR] [--monorepo] [--json]",
    flags: [{ name: "monorepo", type: "boolean", description: "a gadgetfile (monorepo recipe), gadgets/, stages/, tsconfig.json and package.json" }, JSON_FLAG],
    args: { min: 0, max: 1 },
    load: () => import("./commands/init.js"),
  },
];

/** Command groups (words that only lead to subcommands). */
export const GROUPS: Record<string, string> = {
  image: "Manage gadget images",
  cache: "Manage the step cache",
};
