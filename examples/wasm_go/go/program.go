// The wasm_go gadget's WebAssembly module: Go's standard library only. It speaks Inspektor
// Gadget's wasm API directly: gadgetLog and gadgetShouldLog come from the host module "ig"
// (//go:wasmimport), and the functions ig calls are //go:wasmexport-ed. Built by gadget (or
// ig) with: CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -ldflags "-w -s".
package main

import (
	"fmt"
	"runtime"
	"unsafe"
)

// ig's log levels
const (
	logError uint32 = iota
	logWarn
	logInfo
	logDebug
)

//go:wasmimport ig gadgetLog
func gadgetLog(level uint32, msg uint64)

//go:wasmimport ig gadgetShouldLog
func gadgetShouldLog(level uint32) uint32

// logf formats a message and hands ig its length (high 32 bits) and address (low 32 bits).
func logf(level uint32, format string, args ...any) {
	if gadgetShouldLog(level) == 0 {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if len(msg) == 0 {
		return
	}
	gadgetLog(level, uint64(len(msg))<<32|uint64(uintptr(unsafe.Pointer(unsafe.StringData(msg)))))
	runtime.KeepAlive(msg)
}

// gadgetAPIVersion is the version of ig's wasm API this module speaks; ig checks it first.
//
//go:wasmexport gadgetAPIVersion
func gadgetAPIVersion() uint64 {
	return 1
}

var starts int

//go:wasmexport gadgetInit
func gadgetInit() int32 {
	logf(logInfo, "wasm_go: module built with %s", runtime.Version())
	return 0
}

//go:wasmexport gadgetStart
func gadgetStart() int32 {
	starts++
	logf(logDebug, "wasm_go: start #%d", starts)
	return 0
}

//go:wasmexport gadgetStop
func gadgetStop() int32 {
	logf(logDebug, "wasm_go: stopped")
	return 0
}

// main is required by package main; ig never runs it (the module is a reactor).
func main() {}
