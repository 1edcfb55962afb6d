"""The C part of the package: the allocator hooks of the native capture backend.

Everything else about the package is in pyproject.toml. The extension is optional: where it
does not compile (no compiler, another interpreter), the package installs without it and the
``auto`` backend falls back to memray or tracemalloc, saying so on stderr. The release build
sets ``HARNESS_REQUIRE_NATIVE=1``, which makes a failed compile fail the build: a published
wheel without the extension would give every user of it the fallback.
"""

import os

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "harness._native",
            sources=["harness/measure/capture/_native.c"],
            extra_compile_args=["-O2", "-std=gnu11"],
            optional=os.environ.get("HARNESS_REQUIRE_NATIVE", "") != "1",
        )
    ]
)
