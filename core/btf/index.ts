/** ELF + BTF reading for BPF objects (used by metadata validation and the build tests). */
export * from "./elf.js";
export * from "./btf.js";
export * from "./object.js";
