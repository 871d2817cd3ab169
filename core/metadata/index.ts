/** gadget.yaml against the eBPF object: validation and --update-metadata. */
export * from "./validate.js";
export * from "./update.js";
