"""The version of harness: written into every results file, verdict and report, and read by
the build (``[tool.setuptools.dynamic]``), so that it is stated once."""

__version__ = "0.1.0"
