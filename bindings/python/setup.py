"""Builds lstmkit._native against liblstmkit.so (the Swift library's C ABI).

Every bundled model, <repo>/models/*.safetensors (the tokenizers tokenizer-pku, the
default, and tokenizer-pku-large; the G2P model g2p-cmudict), is copied into the package
as lstmkit/models/<name>.safetensors, where Tokenizer.load(), Tokenizer.load(name),
Seq2Seq.load() and the `lstmkit` tool find them; without them the package builds and
those calls need a path.

The shared library comes from $LSTMKIT_LIB_DIR/liblstmkit.so if that variable is set,
else from `bash bindings/build_native.sh` run in the repository (two levels above this
file), which builds liblstmkit.so and lstmkit-cli with the Swift runtime linked in
statically. Both are copied into the package (stripped of symbols the loader does not
need); the extension finds liblstmkit.so beside it through the rpath $ORIGIN.
OpenBLAS stays an outside dependency of the plain wheel: `auditwheel repair` bundles it
(bindings/python/build_wheel.sh does both steps).
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACKAGE_DIR = HERE / "lstmkit"
LIBRARY = "liblstmkit.so"
HEADER = REPO / "include" / "lstmkit.h"
# The bundled models: every file models/*.safetensors of the repository, so adding one
# there ships it (bindings/c/install.sh installs the same set).
BUNDLED_MODELS = sorted((REPO / "models").glob("*.safetensors"))


def header_version() -> str:
    text = HEADER.read_text(encoding="utf-8")
    match = re.search(r'#define\s+LK_VERSION_STRING\s+"([^"]+)"', text)
    if not match:
        raise RuntimeError(f"LK_VERSION_STRING not found in {HEADER}")
    return match.group(1)


def locate_library() -> Path:
    """The liblstmkit.so to ship: from LSTMKIT_LIB_DIR, or freshly built by SwiftPM."""
    lib_dir = os.environ.get("LSTMKIT_LIB_DIR")
    if lib_dir:
        library = Path(lib_dir).expanduser().resolve() / LIBRARY
        if not library.is_file():
            raise RuntimeError(f"LSTMKIT_LIB_DIR={lib_dir!r} holds no {LIBRARY}")
        return library
    if not (REPO / "Package.swift").is_file():
        raise RuntimeError(
            f"no Package.swift in {REPO} (two levels above setup.py): build from the "
            f"LSTMKit repository, or set LSTMKIT_LIB_DIR to a directory holding {LIBRARY}"
        )
    if shutil.which("swift") is None:
        raise RuntimeError("swift is not on PATH: install the toolchain or set LSTMKIT_LIB_DIR")
    script = REPO / "bindings" / "build_native.sh"
    print(f"running bash {script}", flush=True)
    built = subprocess.run(["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True)
    library = Path(built.stdout.strip().splitlines()[-1]) / LIBRARY
    if not library.is_file():
        raise RuntimeError(f"{script} finished but {library} does not exist")
    return library


def install_copy(source: Path, directory: Path, strip: bool = False) -> None:
    """Copies source into directory atomically (a loaded copy is never overwritten in
    place); strip=True drops the symbols the dynamic loader does not need."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / source.name
    if target.exists() and target.resolve() == source.resolve():
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{source.name}.", dir=directory)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        if strip and shutil.which("strip"):
            subprocess.run(["strip", "--strip-unneeded", tmp], check=True)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


class BuildExt(build_ext):
    """build_ext that first puts liblstmkit.so beside the extension."""

    def run(self):
        import numpy

        library = locate_library()
        install_copy(library, PACKAGE_DIR, strip=True)  # the link step and in-place builds use it
        if not self.inplace:
            install_copy(library, Path(self.build_lib) / "lstmkit", strip=True)  # the wheel carries it
        # The command-line tool (run by the `lstmkit` console script), when built.
        cli = library.parent / "lstmkit-cli"
        if cli.is_file():
            install_copy(cli, (PACKAGE_DIR if self.inplace else Path(self.build_lib) / "lstmkit") / "_bin", strip=True)
        # The bundled models: in the wheel (or beside the sources for in-place builds);
        # a stale copy of one the repository no longer has is removed.
        models = (PACKAGE_DIR if self.inplace else Path(self.build_lib) / "lstmkit") / "models"
        bundled = {model.name for model in BUNDLED_MODELS}
        for stale in models.glob("*.safetensors"):
            if stale.name not in bundled:
                stale.unlink()
        for model in BUNDLED_MODELS:
            install_copy(model, models)
        for ext in self.extensions:
            ext.include_dirs.append(numpy.get_include())
        super().run()


native = Extension(
    "lstmkit._native",
    sources=[
        "lstmkit/_native.c",
        "lstmkit/_common.c",
        "lstmkit/_lstm.c",
        "lstmkit/_tokenizer.c",
        "lstmkit/_text_classifier.c",
        "lstmkit/_image_classifier.c",
        "lstmkit/_image_segmenter.c",
        "lstmkit/_sequence_classifier.c",
        "lstmkit/_forecaster.c",
        "lstmkit/_seq2seq.c",
        "lstmkit/_other_blas.c",
    ],
    depends=["lstmkit/_common.h"],
    include_dirs=[str(REPO / "include")],
    library_dirs=[str(PACKAGE_DIR)],
    libraries=["lstmkit"],
    # -fvisibility=hidden: the files share helpers, but only PyInit__native is exported.
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers",
                        "-fvisibility=hidden"],
    extra_link_args=["-Wl,-rpath,$ORIGIN"],
)

setup(
    version=header_version(),
    ext_modules=[native],
    cmdclass={"build_ext": BuildExt},
)
