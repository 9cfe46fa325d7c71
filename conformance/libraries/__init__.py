"""Wrappers of real LLM libraries in the adapter protocol, selectable by short name.

``streamproof check --adapter langchain`` is ``--adapter streamproof.conformance.libraries.langchain:factory``.
Each library is an optional extra (``pip install "streamproof[langchain]"``); the SDKs' own stream
helpers need none. This module imports no library: a wrapper's module does, when it is loaded.
"""

from __future__ import annotations

# short name -> (module:factory, the extra that installs the library, or None)
LIBRARY_ADAPTERS: dict[str, tuple[str, str | None]] = {
    "reference": ("streamproof.conformance.reference:factory", None),
    "sdk-helpers": ("streamproof.conformance.libraries.sdk_helpers:factory", None),
    "pydantic-ai": ("streamproof.conformance.libraries.pydantic_ai:factory", "pydantic-ai"),
    "langchain": ("streamproof.conformance.libraries.langchain:factory", "langchain"),
    "litellm": ("streamproof.conformance.libraries.litellm:factory", "litellm"),
    "any-llm": ("streamproof.conformance.libraries.any_llm:factory", "any-llm"),
}
