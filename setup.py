"""Builds the optional native encoder, ``postie._yenc._pool`` (everything else is in
pyproject.toml).

rapidyenc (vendored in ``postie/_yenc/rapidyenc``) has one source file per SIMD level, each
compiled with its own flags (``-mavx2`` for the AVX2 kernel, ...) and chosen at run time
by CPU detection; the flags below are those of its own CMakeLists.txt. setuptools gives
one set of flags to all sources of an extension, so ``build_ext`` here compiles the
vendored files itself, file by file, and links their objects into the extension.

The extension is optional: without a C/C++ compiler or Python's headers the install goes
on without it and postie encodes with sabctools (``postie.runtime.encoder``).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join("postie", "_yenc", "rapidyenc")

MACHINE = platform.machine().lower()
X86 = MACHINE in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86")
ARM64 = MACHINE in ("aarch64", "arm64")
ARM32 = MACHINE.startswith("arm") and not ARM64
RISCV64 = MACHINE == "riscv64"

_X86_FLAGS: dict[str, list[str]] = {
    "src/encoder_sse2.cc": ["-msse2"],
    "src/encoder_ssse3.cc": ["-mssse3"],
    "src/encoder_avx.cc": ["-mavx", "-mpopcnt"],
    "src/encoder_avx2.cc": ["-mavx2", "-mpopcnt", "-mbmi", "-mbmi2", "-mlzcnt"],
    "src/encoder_vbmi2.cc": [
        "-mavx512vbmi2",
        "-mavx512vl",
        "-mavx512bw",
        "-mpopcnt",
        "-mbmi",
        "-mbmi2",
        "-mlzcnt",
    ],
    "src/crc_folding.cc": ["-mssse3", "-msse4.1", "-mpclmul"],
    "src/crc_folding_256.cc": ["-mavx2", "-mvpclmulqdq", "-mpclmul"],
}
_ARM64_FLAGS: dict[str, list[str]] = {
    "src/crc_arm.cc": ["-march=armv8-a+crc"],
    "src/crc_arm_pmull.cc": ["-march=armv8-a+crypto+crc"],
}
_ARM32_FLAGS: dict[str, list[str]] = {
    "src/encoder_neon.cc": ["-mfpu=neon", "-march=armv7-a"],
    "src/crc_arm.cc": ["-march=armv8-a+crc", "-mfpu=fp-armv8"],
    "src/crc_arm_pmull.cc": ["-march=armv8-a+crypto+crc", "-mfpu=neon"],
}
_RISCV64_FLAGS: dict[str, list[str]] = {
    "src/encoder_rvv.cc": ["-march=rv64gcv"],
    "src/crc_riscv.cc": ["-march=rv64gc_zbkc"],
}
PER_FILE_FLAGS = (
    _X86_FLAGS
    if X86
    else _ARM64_FLAGS
    if ARM64
    else _ARM32_FLAGS
    if ARM32
    else _RISCV64_FLAGS
    if RISCV64
    else {}
)

# What rapidyenc's CMakeLists.txt compiles for encoding and CRC32 (its decoder is left out).
VENDORED = [
    "rapidyenc.cc",
    "src/platform.cc",
    "src/encoder.cc",
    "src/encoder_sse2.cc",
    "src/encoder_ssse3.cc",
    "src/encoder_avx.cc",
    "src/encoder_avx2.cc",
    "src/encoder_vbmi2.cc",
    "src/encoder_neon.cc",
    "src/encoder_rvv.cc",
    "src/crc.cc",
    "src/crc_folding.cc",
    "src/crc_folding_256.cc",
    "src/crc_arm.cc",
    "src/crc_arm_pmull.cc",
    "src/crc_riscv.cc",
    "crcutil-1.0/code/crc32c_sse4.cc",
    "crcutil-1.0/code/multiword_64_64_cl_i386_mmx.cc",
    "crcutil-1.0/code/multiword_64_64_gcc_amd64_asm.cc",
    "crcutil-1.0/code/multiword_64_64_gcc_i386_mmx.cc",
    "crcutil-1.0/code/multiword_64_64_intrinsic_i386_mmx.cc",
    "crcutil-1.0/code/multiword_128_64_gcc_amd64_sse2.cc",
    "crcutil-1.0/examples/interface.cc",
]
VENDOR_MACROS = [
    ("RAPIDYENC_DISABLE_DECODE", "1"),
    ("CRCUTIL_USE_MM_CRC32", "0"),
    ("NDEBUG", "1"),
]
VENDOR_INCLUDES = [
    os.path.join(VENDOR, "crcutil-1.0", "code"),
    os.path.join(VENDOR, "crcutil-1.0", "examples"),
    os.path.join(VENDOR, "crcutil-1.0", "tests"),
]
# rapidyenc's own release flags (CMake Release: -O3); -g0: no debug info in the objects.
VENDOR_FLAGS = [
    "-O3",
    "-g0",
    "-fno-exceptions",
    "-fno-rtti",
    "-fwrapv",
    "-fomit-frame-pointer",
    "-fvisibility=hidden",
    "-Wno-unused-function",
    "-Wno-unused-parameter",
]
GLUE_FLAGS = ["-O2", "-g0", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]


class BuildNative(build_ext):
    """Compiles the vendored sources with their per-file flags, then the extension."""

    def build_extension(self, ext: Extension) -> None:
        if ext.name != "postie._yenc._pool":
            super().build_extension(ext)
            return
        compiler = self.compiler
        objects_dir = os.path.join(self.build_temp, "rapidyenc")
        common = list(VENDOR_FLAGS)
        if X86 and self._accepts(
            ["-mno-avx256-split-unaligned-load", "-mno-avx256-split-unaligned-store"]
        ):
            common += ["-mno-avx256-split-unaligned-load", "-mno-avx256-split-unaligned-store"]

        def compile_one(relative: str) -> list[str]:
            flags = PER_FILE_FLAGS.get(relative, [])
            if flags and not self._accepts(flags):
                flags = []  # the kernel compiles empty and is never chosen at run time
            return compiler.compile(
                [os.path.join(VENDOR, relative)],
                output_dir=objects_dir,
                macros=VENDOR_MACROS,
                include_dirs=VENDOR_INCLUDES,
                extra_postargs=common + flags,
            )

        jobs = max(1, min(len(VENDORED), os.cpu_count() or 1))
        with ThreadPoolExecutor(jobs) as pool:
            objects = [o for group in pool.map(compile_one, VENDORED) for o in group]
        ext.extra_objects = [*ext.extra_objects, *objects]
        # rapidyenc needs four symbols of the C++ runtime (operator new[]/delete[]):
        # linked in statically, the extension does not load libstdc++ at import (~3 M
        # instructions less); where there is no static libstdc++, the shared one.
        static = ["-static-libstdc++", "-static-libgcc"]
        ext.extra_link_args = [*ext.extra_link_args, *static]
        try:
            super().build_extension(ext)
        except Exception:  # a link error: try again without (a compile error fails again)
            ext.extra_link_args = [a for a in ext.extra_link_args if a not in static]
            super().build_extension(ext)

    def _accepts(self, flags: list[str]) -> bool:
        """Does the compiler take these flags? (CMake's CHECK_CXX_COMPILER_FLAG)"""
        key = tuple(flags)
        cache: dict[tuple[str, ...], bool] = self.__dict__.setdefault("_flag_cache", {})
        if key not in cache:
            with tempfile.TemporaryDirectory() as tmp:
                source = os.path.join(tmp, "probe.cc")
                with open(source, "w") as f:
                    f.write("int main() { return 0; }\n")
                try:
                    self.compiler.compile([source], output_dir=tmp, extra_postargs=flags)
                except Exception:
                    cache[key] = False
                else:
                    cache[key] = True
        return cache[key]


native = Extension(
    "postie._yenc._pool",
    sources=[os.path.join("postie", "_yenc", "pool.c")],
    include_dirs=[os.path.join("postie", "_yenc")],
    extra_compile_args=GLUE_FLAGS,
    libraries=["pthread"],
    language="c++",  # the vendored objects are C++: link with the C++ driver
    optional=True,  # no compiler or no Python.h: postie installs and uses sabctools
)

setup(
    ext_modules=[native] if sys.platform != "win32" else [],
    cmdclass={"build_ext": BuildNative},
)
