module example.com/gadget/wasm_go

go 1.24
