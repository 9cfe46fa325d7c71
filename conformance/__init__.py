"""streamproof.conformance: the pytest plugin, the battery, the oracle, snapshots and reports."""
