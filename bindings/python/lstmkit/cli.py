"""The `lstmkit` command: runs the command-line tool shipped inside the package
(`lstmkit segment`, `lstmkit train-tokenizer`, `lstmkit eval-tokenizer`, ...), with the
bundled tokenizer model as its default."""

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
    model = _HERE / "models" / "tokenizer-pku.safetensors"
    if "LSTMKIT_TOKENIZER_MODEL" not in env and model.is_file():
        env["LSTMKIT_TOKENIZER_MODEL"] = str(model)
    os.execve(str(tool), ["lstmkit"] + sys.argv[1:], env)


if __name__ == "__main__":
    main()
