"""pytest plugin of the conformance suite (options --streamproof-adapter / --streamproof-cassettes)."""
