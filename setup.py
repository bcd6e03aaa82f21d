"""Builds the optional C accelerator of dataset validation; everything else is in pyproject.toml.

The build is optional: without a C compiler the package installs without it, and validation uses
its msgspec path for every line (see keiko/datasets/accelerator.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "keiko.datasets._accelerator",
            ["layers/keiko/keiko/datasets/_accelerator.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
