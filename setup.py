"""The C parts of the package: the allocator hooks of the native capture backend, and the
serving loop of the pytest plugin's zygotes (which runs no Python between two forks).

Everything else about the package is in pyproject.toml. The extensions are optional: where they
do not compile (no compiler, another interpreter), the package installs without them: the
``auto`` backend falls back to memray or tracemalloc, saying so on stderr, and zygotes serve
from a Python loop (whose copies may read a peak that differs by a string with what their
zygote served before). The release build
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
        ),
        Extension(
            "harness._forkserver",
            sources=["harness/measure/_forkserver.c", "harness/measure/_pages.c"],
            extra_compile_args=["-O2", "-std=gnu11"],
            optional=os.environ.get("HARNESS_REQUIRE_NATIVE", "") != "1",
        ),
    ]
)
