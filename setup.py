"""Builds the optional compiled extension fastembed_core._kernels from csrc/*.c and the .pyx.

Environment switches:
  FASTEMBED_CORE_NO_EXTENSION=1       skip the extension: a pure numpy install
  FASTEMBED_CORE_REQUIRE_EXTENSION=1  a failed compile is fatal (always so under cibuildwheel)
  FASTEMBED_CORE_DEBUG=1              -O0 -g, C asserts and Cython bounds checks on
  FASTEMBED_CORE_SANITIZE=address,undefined   build with those sanitizers (local/CI only)
  FASTEMBED_CORE_NATIVE=1             -march=native (local builds only; never for wheels)
  FASTEMBED_CORE_EMULATE_SIMD=1       tests only: every x86 variant (AVX2, AVX-512) runs through
                                      SIMDe's portable C (needs the simde headers), so the suite
                                      checks all variants on any CPU
  FASTEMBED_CORE_STRIP=0|1            strip the extension's symbols and debug info (default: on for
                                      wheels and installs, off for --inplace/editable builds, whose
                                      symbols benchmarks/gate.py and debuggers need, and off with
                                      DEBUG or SANITIZE)
Without a working compiler the install still succeeds as the pure numpy package, loudly.
"""

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


NO_EXTENSION = flag("FASTEMBED_CORE_NO_EXTENSION")
REQUIRE = flag("FASTEMBED_CORE_REQUIRE_EXTENSION") or flag("CIBUILDWHEEL")
DEBUG = flag("FASTEMBED_CORE_DEBUG")
NATIVE = flag("FASTEMBED_CORE_NATIVE")
SANITIZE = os.environ.get("FASTEMBED_CORE_SANITIZE", "").strip()
EMULATE = flag("FASTEMBED_CORE_EMULATE_SIMD")
STRIP = os.environ.get("FASTEMBED_CORE_STRIP", "").strip()

BANNER = "\n" + "*" * 78 + "\n{}\n" + "*" * 78 + "\n"


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure package unless the extension is required."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        for ext in self.extensions:
            if msvc:
                ext.extra_compile_args += ["/Od", "/Zi"] if DEBUG else ["/O2"]
                continue
            # -ffp-contract=off: no mul+add fused into an FMA behind our back (also under -march=native), so
            # every variant rounds as numpy does; explicit FMA intrinsics are unaffected.
            # -Werror=implicit-function-declaration: an intrinsic the headers lack (SIMDe has not every one)
            # must fail the build, not leave an undefined symbol that fails the import.
            # -pthread: the C worker pool (csrc/pool.c)
            args = ["-fno-strict-aliasing", "-ffp-contract=off", "-Wall", "-Wno-unused-function", "-Wno-unknown-pragmas",
                    "-Werror=implicit-function-declaration", "-pthread"]
            args += ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3"]
            if NATIVE:
                args.append("-march=native")
            link = ["-pthread"]
            if self._strip():
                link.append("-Wl,-S" if sys.platform == "darwin" else "-s")
            if SANITIZE:
                args += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
                link += [f"-fsanitize={SANITIZE}"]
            ext.extra_compile_args += args
            ext.extra_link_args += link
        super().build_extensions()

    def _strip(self):
        if STRIP:
            return flag("FASTEMBED_CORE_STRIP")
        return not (self._local or DEBUG or SANITIZE)

    def run(self):
        # setuptools' run() clears self.inplace while it compiles (and copies afterwards): decide here.
        self._local = bool(self.inplace or getattr(self, "editable_mode", False))
        try:
            super().run()
        except Exception as exc:  # a missing compiler raises from distutils internals
            self._fallback(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc):
        if REQUIRE:
            raise
        sys.stderr.write(BANNER.format(
            "WARNING: fastembed_core's compiled extension could not be built:\n"
            f"  {type(exc).__name__}: {exc}\n"
            "Installing the pure numpy package instead: everything works, much more slowly.\n"
            "Install a C compiler and reinstall for the fast kernels (fastembed_core.BACKEND\n"
            "says which one you have)."
        ))


def extensions():
    if NO_EXTENSION:
        sys.stderr.write(BANNER.format("FASTEMBED_CORE_NO_EXTENSION=1: installing the pure numpy package."))
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        if REQUIRE:
            raise
        sys.stderr.write(BANNER.format(f"WARNING: Cython is missing ({exc}); installing the pure numpy package."))
        return []
    macros = [] if DEBUG else [("NDEBUG", "1")]
    if EMULATE:
        macros.append(("FE_EMULATE_SIMD", "1"))
    ext = Extension(
        "fastembed_core._kernels",
        sources=["fastembed_core/_kernels.pyx"] + sorted(glob.glob("csrc/*.c")),
        include_dirs=["csrc"],
        define_macros=macros,
        depends=sorted(glob.glob("csrc/*.h") + glob.glob("fastembed_core/*.pxi")),
    )
    directives = {"language_level": "3"}
    if DEBUG:
        directives.update(boundscheck=True, wraparound=True, initializedcheck=True)
    return cythonize([ext], compiler_directives=directives, include_path=["fastembed_core"])


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
