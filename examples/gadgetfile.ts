/**
 * `cd examples && gadget run` builds the four example gadgets (both architectures each, in
 * parallel, cached), tagged localhost:5000/<name>:dev. `gadget image build <dir>` builds one
 * the ig way. wasm_go needs Go >= 1.24 on PATH.
 */
import { defineGadgetfile } from "gadget";

export default defineGadgetfile({
  gadgets: ["trace_exec", "count_syscall", "wasm_hello", "wasm_go"],
  defaults: {
    tag: "localhost:5000/{name}:dev",
    // gadget's stand-in for Inspektor Gadget's headers (see include/gadget/macros.h)
    cflags: ["-I", "../include"],
  },
});
