"""streamproof.harness: record, scrub, store, replay, inject faults, emulate providers.
Imports adapters, never conformance."""
