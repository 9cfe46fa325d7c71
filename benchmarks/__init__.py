"""Performance measurements, run by ``streamproof bench`` (never by the test run)."""
