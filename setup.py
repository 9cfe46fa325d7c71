"""Maps the root folders into the one import package ``streamproof``.

adapters/ -> streamproof.adapters, harness/ -> streamproof.harness, and so on. The mapping is
computed so a new subpackage needs no edit here. Top-level names like ``adapters`` are never
installed: they belong to other projects on PyPI.
"""

from setuptools import find_packages, setup

ROOTS = ["adapters", "harness", "conformance", "cli", "benchmarks"]

packages = ["streamproof.cassettes"]
package_dir = {"streamproof.cassettes": "cassettes"}
for root in ROOTS:
    package_dir[f"streamproof.{root}"] = root
    packages.append(f"streamproof.{root}")
    packages += [f"streamproof.{root}.{sub}" for sub in find_packages(root)]

setup(packages=packages, package_dir=package_dir)
