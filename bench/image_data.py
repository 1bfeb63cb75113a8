"""Fashion-MNIST from Debian's dataset-fashion-mnist as .npy files, with the fixed split.

Official train/test; dev = the last 5,000 training images (../shared/DATA.md).
Writes data-cache/fashion/{train,dev,test}_{images,labels}.npy (uint8 (N, 28, 28), int64 (N,)).
Usage: python3 bench/image_data.py [--out data-cache/fashion]
"""
import argparse
import gzip
import os
import sys

import numpy as np

SOURCE = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {shape}, got {array.size} values")
    return array.reshape(shape)


def load_split():
    """(train, dev, test) as (images uint8 (N, 28, 28), labels int64 (N,))."""
    if not os.path.isdir(SOURCE):
        sys.exit(f"{SOURCE} not found: install it with `apt-get install dataset-fashion-mnist`")
    x = read_idx(f"{SOURCE}/train-images-idx3-ubyte.gz")
    y = read_idx(f"{SOURCE}/train-labels-idx1-ubyte.gz").astype(np.int64)
    xt = read_idx(f"{SOURCE}/t10k-images-idx3-ubyte.gz")
    yt = read_idx(f"{SOURCE}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return (x[:-5000], y[:-5000]), (x[-5000:], y[-5000:]), (xt, yt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data-cache", "fashion"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (images, labels) in zip(["train", "dev", "test"], load_split()):
        np.save(os.path.join(args.out, f"{name}_images.npy"), np.ascontiguousarray(images))
        np.save(os.path.join(args.out, f"{name}_labels.npy"), labels)
        print(f"{name}: {len(labels)} images -> {args.out}/{name}_images.npy")


if __name__ == "__main__":
    main()
