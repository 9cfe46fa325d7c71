"""The ``streamproof`` command line."""
