/*
 * The gadget's WebAssembly module, in C (built with clang --target=wasm32-wasi as a WASI
 * reactor). It uses Inspektor Gadget's wasm API: the host module "ig"'s gadgetLog(level, msg),
 * where msg packs a length (high 32 bits) and a pointer (low 32 bits); the gadgetAPIVersion
 * export ig checks first; and the gadgetInit/gadgetStart/gadgetStop exports it calls.
 */
#include <stdint.h>
#include <string.h>

__attribute__((import_module("ig"), import_name("gadgetLog")))
extern void gadgetLog(uint32_t level, uint64_t msg);

/* ig's levels: error 0, warn 1, info 2, debug 3, trace 4 */
enum { LOG_INFO = 2 };

static void log_info(const char *s)
{
	uint64_t packed = ((uint64_t)strlen(s) << 32) | (uint64_t)(uintptr_t)s;
	gadgetLog(LOG_INFO, packed);
}

/* The version of ig's wasm API this module speaks: ig refuses modules without it. */
__attribute__((export_name("gadgetAPIVersion"))) uint64_t gadgetAPIVersion(void)
{
	return 1;
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
