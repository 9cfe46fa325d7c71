"""streamproof.adapters: the reference adapter stack (canonical events, streaming interfaces,
error mapping, usage, traces). Imports nothing from harness or conformance."""
