"""The `lstmkit` command: runs the command-line tool shipped inside the package
(`lstmkit segment`, `lstmkit train-tokenizer`, `lstmkit eval-tokenizer`, ...), with the
bundled tokenizer and G2P models as its defaults."""

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def main() -> None:
    tool = _HERE / "_bin" / "lstmkit-cli"
    if not tool.is_file():
        sys.exit("lstmkit: the command-line tool was not built into this installation; "
                 "build it with `swift build -c release --product lstmkit-cli` and reinstall")
    env = dict(os.environ)
    for variable, name in (("LSTMKIT_TOKENIZER_MODEL", "tokenizer-pku"), ("LSTMKIT_G2P_MODEL", "g2p-cmudict")):
        model = _HERE / "models" / f"{name}.safetensors"
        if variable not in env and model.is_file():
            env[variable] = str(model)
    os.execve(str(tool), ["lstmkit"] + sys.argv[1:], env)


if __name__ == "__main__":
    main()
