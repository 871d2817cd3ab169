/*
 * The gadget's WebAssembly module, in C (built with clang --target=wasm32-wasi as a WASI
 * reactor). It uses Inspektor Gadget's wasm API: the host's env.gadgetLog(level, msg) where
 * msg packs a pointer and a length, and the gadgetInit/gadgetStart/gadgetStop exports.
 */
#include <stdint.h>
#include <string.h>

__attribute__((import_module("env"), import_name("gadgetLog")))
extern void gadgetLog(uint32_t level, uint64_t msg);

enum { LOG_INFO = 3 };

static void log_info(const char *s)
{
	uint64_t packed = ((uint64_t)(uintptr_t)s << 32) | (uint64_t)strlen(s);
	gadgetLog(LOG_INFO, packed);
}

__attribute__((export_name("gadgetInit"))) int gadgetInit(void)
{
	log_info("hello from wasm_hello's wasm module");
	return 0;
}

__attribute__((export_name("gadgetStart"))) int gadgetStart(void)
{
	return 0;
}

__attribute__((export_name("gadgetStop"))) int gadgetStop(void)
{
	return 0;
}
