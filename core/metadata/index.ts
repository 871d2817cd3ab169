/** gadget.yaml against the eBPF object: validation, unknown keys and --update-metadata. */
export * from "./validate.js";
export * from "./keys.js";
export * from "./update.js";
