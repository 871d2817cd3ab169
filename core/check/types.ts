/**
 * `gadget image check` / `checkObjects()`: the public shapes. A check loads every program of
 * every object into the verifier of each kernel (the host's, or one booted in a micro-VM) and
 * reports, per object × kernel, loaded or refused with the verifier's figures.
 */

/** One eBPF object to check: its bytes (or a file), identity and the params ig would set. */
export interface CheckObject {
  /** Display name, e.g. the gadget's name (`trace_exec`). */
  name: string;
  /** Architecture the object was built for. Only amd64 objects can be checked today. */
  arch: "amd64" | "arm64";
  /** `sha256:…` of the object's bytes (the ebpf layer's digest for images). */
  digest: string;
  /** The object's bytes. */
  bytes: Uint8Array;
  /** Param values to set before loading (gadget.yaml's `params.ebpf.<var>.defaultValue`). */
  params?: Record<string, string>;
}

/** A kernel to check against: `host` (the running kernel) or a vmlinuz booted with qemu. */
export type KernelSpec = "host" | string;

/** A kernel as identified before any boot. */
export interface KernelInfo {
  /** What the user gave: `host` or the vmlinuz path. */
  spec: KernelSpec;
  kind: "host" | "vm";
  /** Short label for output lines: `host` or the kernel release (`6.1.0-57-cloud-amd64`). */
  label: string;
  /** Kernel release (uname -r) for the host, or read from the bzImage header. */
  release: string;
  /** `sha256:…` of the kernel file (vm), or of /proc/version (host): part of the cache key. */
  digest: string;
  arch: "amd64";
  /** Set when the kernel was not used (e.g. host without CAP_BPF): one line saying why. */
  skipped?: string;
  /** Milliseconds the boot + load took (vm, when a boot happened). */
  bootMs?: number;
}

/** One program's verifier outcome on one kernel. */
export interface ProgramResult {
  name: string;
  section: string;
  progType: string;
  loaded: boolean;
  /** Set when the program was not loaded on purpose (ig does not load it either). */
  skipped?: string;
  /** Instructions processed by the verifier (`processed N insns`). */
  insns: number;
  totalStates: number;
  peakStates: number;
  maxStatesPerInsn: number;
  /** cilium/ebpf's error, as it printed it. */
  error?: string;
  /** The one line that says why: the verifier's reason or the loader's (e.g. a missing kfunc). */
  reason?: string;
  /** The verifier's last meaningful lines (the instruction and the reason). */
  log?: string[];
}

export type ResultStatus = "loaded" | "refused" | "not-checked";

/** One object on one kernel. */
export interface CheckResult {
  object: string;
  arch: string;
  objectDigest: string;
  /** The kernel's label (`host`, `6.1.0-57-cloud-amd64`). */
  kernel: string;
  kernelDigest: string;
  status: ResultStatus;
  /** Why the object was refused or not checked (one line). */
  reason?: string;
  /** What was prepared as ig does (map sizes from params, param values, …). */
  prepared?: string[];
  programs: ProgramResult[];
  /** True when the result came from the cache (no load, no boot). */
  cached: boolean;
}

export interface CheckOptions {
  objects: CheckObject[];
  /** Default `["host"]`. */
  kernels?: KernelSpec[];
  /** Where results are cached by (object digest, kernel digest, loader digest); none when unset. */
  cacheDir?: string;
  /** Ignore cached results (they are still written). */
  noCache?: boolean;
  /** qemu accelerator: `tcg` (default; KVM boots hang on some hosts) or `kvm`. */
  accel?: "tcg" | "kvm";
  /** Watchdog for one VM (boot + every load), ms. Default 120 s + 15 s per object. */
  timeoutMs?: number;
  /** Called as soon as a result is known (results of one kernel come together). */
  onResult?: (r: CheckResult) => void;
  /** Called once every kernel is identified, before anything loads or boots. */
  onStart?: (kernels: KernelInfo[]) => void;
  /** Called when a kernel is done (skipped, or every result known). */
  onKernel?: (k: KernelInfo) => void;
  /** Environment (PATH, GADGET_CHECK_LOADER); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface CheckReport {
  ok: boolean;
  kernels: KernelInfo[];
  results: CheckResult[];
  /** Things the user should know that are not results, e.g. `6.1.0-…: this kernel has no BTF …`, the bpftool fallback. */
  warnings: string[];
}
