"""Builds lstmkit._native against liblstmkit.so (the Swift library's C ABI).

The tokenizer models <repo>/models/tokenizer-pku.safetensors (the default) and
tokenizer-pku-large.safetensors, when they exist, are copied into the package as
lstmkit/models/<name>.safetensors (Tokenizer.load() with no argument reads the default,
Tokenizer.load("tokenizer-pku-large") the other); without them the package builds and
Tokenizer.load() needs a path.
So is the G2P model models/g2p-cmudict.safetensors (`lstmkit g2p`, Seq2Seq.load()).

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
TOKENIZER_MODELS = [REPO / "models" / f"{name}.safetensors" for name in ("tokenizer-pku", "tokenizer-pku-large")]
G2P_MODEL = REPO / "models" / "g2p-cmudict.safetensors"   # `lstmkit g2p`'s, copied the same way


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
        # The bundled tokenizer model: in the wheel (or beside the sources for in-place
        # builds) when the repository has it; a stale copy is removed when it does not.
        models = (PACKAGE_DIR if self.inplace else Path(self.build_lib) / "lstmkit") / "models"
        for model in (*TOKENIZER_MODELS, G2P_MODEL):
            if model.is_file():
                install_copy(model, models)
            elif (models / model.name).exists():
                (models / model.name).unlink()
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
