/**
 * After clang: an object with an undefined symbol that is neither a `__ksym` nor a `__kconfig`
 * extern cannot load (libbpf: `failed to find BTF for extern`). clang 14 leaves such calls for
 * `memcmp`, `memcpy`, `memset` and `memmove` when it does not inline them. Fail the build there,
 * naming the symbol and the likely fix, instead of at `ig run` time.
 */
import { readFile } from "node:fs/promises";
import type { Arch, GadgetInfo } from "../core/types.js";
import { api } from "./api.js";

const LIBC_BUILTINS = new Set(["memcmp", "memcpy", "memset", "memmove", "strlen", "strcmp", "strncmp", "bcmp"]);

export function unresolvedSymbolHint(symbol: string): string {
  if (LIBC_BUILTINS.has(symbol)) {
    return `clang left a library call to ${symbol} (clang 14 does): call __builtin_${symbol}() with a constant size instead, or build with a newer clang (e.g. clang-19, first on PATH)`;
  }
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
