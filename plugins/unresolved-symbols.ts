/**
 * After clang: an object with an undefined symbol that is neither a `__ksym` nor a `__kconfig`
 * extern cannot load (libbpf: `failed to find BTF for extern`). clang 14 leaves such calls for
 * `memcmp` (always, even `__builtin_memcmp`) and for a `memcpy`/`memset`/`memmove` it cannot
 * inline. Fail the build there, naming the symbol and the likely fix, not at `ig run` time.
 */
import { readFile } from "node:fs/promises";
import type { Arch, GadgetInfo } from "../core/types.js";
import { api } from "./api.js";

/** Library calls clang may leave behind: it never inlines comparisons for BPF (clang 14), copies only with a constant size. */
const COMPARISONS = new Set(["memcmp", "bcmp", "strcmp", "strncmp", "strlen"]);
const COPIES = new Set(["memcpy", "memset", "memmove"]);

export function unresolvedSymbolHint(symbol: string): string {
  const newer = "build with a newer clang (e.g. clang-19, first on PATH)";
  if (COMPARISONS.has(symbol)) return `clang 14 does not inline ${symbol} for BPF, not even __builtin_${symbol}: compare in an unrolled loop, or ${newer}`;
  if (COPIES.has(symbol)) return `clang left a library call to ${symbol}: call __builtin_${symbol}() with a constant size (clang inlines it), or ${newer}`;
  return `declare it \`extern … ${symbol} __ksym;\` (a kernel symbol) or \`__kconfig\` (a kernel config value), or define it in the program`;
}

/** Throws when the compiled object at `path` has a symbol nothing can resolve at load time. */
export async function checkUnresolvedSymbols(path: string, gadget: GadgetInfo, arch: Arch): Promise<void> {
  const { GadgetError, goQuote, unresolvedSymbols } = await api();
  const which = `${gadget.name}/${arch}.bpf.o`;
  const symbols = unresolvedSymbols(await readFile(path), which);
  if (symbols.length === 0) return;
  const list = symbols.map(goQuote).join(", ");
  throw new GadgetError({
    what: "undefined symbol in eBPF object",
    which,
    why: `${list} ${symbols.length === 1 ? "is" : "are"} not defined in the program and not a kernel symbol (__ksym) or config value (__kconfig), so the object cannot load`,
    hint: unresolvedSymbolHint(symbols[0]!),
    code: "UNRESOLVED_SYMBOL",
  });
}
