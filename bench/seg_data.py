"""Segmentation canvases: Fashion-MNIST items pasted on 64x64 canvases, with per-pixel masks.

No package ships a real segmentation benchmark, so the labels are derived from
classification images: a pixel is labelled with its item's class + 1 where the item's
pixel is bright (> 127), 0 (background) elsewhere; 11 classes.

The recipe is fixed by ../shared/DATA.md (the peers' reference generator); this is the
project's own implementation and must give byte-identical arrays (`--check`).
  * one numpy Generator per (split, seed, variant), seeded by
    SeedSequence([0x5E60001, split id (train 1, dev 2, test 3), seed] + variant tag);
  * per canvas, in this order: the item count k, k pool indices (with replacement),
    k (y, x) offsets; items may be cut by the border and overlap;
  * "base": k in {2, 3, 4}, 28x28 items, offsets in {-8..44};
    "big": k in {1, 2, 3}, items upscaled 2x (nearest) to 56x56, offsets in {-16..24};
  * pasted in order: bright item pixels overwrite, other pixels keep the maximum;
    later items overwrite earlier labels.
Pools: train = official train images [0, 55000), dev = [55000, 60000), test = official test.

Writes data-cache/seg/<variant>/{train,dev,test}_{images,masks}.npy, uint8 (N, 64, 64):
20,000 train, 2,000 dev, 2,000 test canvases.
Usage: python3 bench/seg_data.py [--variant base|big|all] [--out data-cache/seg] [--check]
"""
import argparse
import gzip
import hashlib
import os
import sys
import time

import numpy as np

SOURCE = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
CANVAS = 64
ITEM = 28
BRIGHT = 127
NUM_CLASSES = 11
CLASS_NAMES = ["background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FAMILY = 0x5E60001
SPLITS = {"train": (1, 20000), "dev": (2, 2000), "test": (3, 2000)}   # split id, canvases
# scale, fewest and most items, lowest and highest offset, extra seed words
VARIANTS = {"base": (1, 2, 4, -8, CANVAS - ITEM + 8, ()),
            "big": (2, 1, 3, -16, CANVAS - 2 * ITEM + 16, (2,))}

# sha256 prefixes (of images bytes then masks bytes) of the reference generator's output:
# the first 8 canvases of each split (the `--check` mode and bench/seg_data_test.py),
# and the full splits (checked when the full sets are generated).
FIRST8 = {("base", "train"): "223c6484e26464e5", ("base", "dev"): "79804b28c6b2a269",
          ("base", "test"): "8d6999b4cfd84e94", ("big", "train"): "a07ee888671011f4",
          ("big", "dev"): "a1af3a589ee31d2f", ("big", "test"): "cede9fdd3b800230"}
FULL = {("base", "train"): "40f4130edb20ad9d", ("base", "dev"): "b49993af12df21e5",
        ("base", "test"): "fa99c55cebbaae1e", ("big", "train"): "b97c7a851635e05d",
        ("big", "dev"): "738fb467ef45ac7e", ("big", "test"): "dff1ff3464874f24"}

_cache = {}


def read_idx(path):
    """An IDX file (gzip) as a uint8 array of its declared shape."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {shape}, got {array.size} values")
    return array.reshape(shape)


def item_pool(split):
    """(images uint8 (M, 28, 28), labels uint8 (M,)) the canvases of `split` draw from."""
    if "fashion" not in _cache:
        if not os.path.isdir(SOURCE):
            sys.exit(f"{SOURCE} not found: install it with `apt-get install dataset-fashion-mnist`")
        _cache["fashion"] = [read_idx(os.path.join(SOURCE, f"{name}-ubyte.gz")) for name in
                             ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")]
    train_x, train_y, test_x, test_y = _cache["fashion"]
    return {"train": (train_x[:55000], train_y[:55000]), "dev": (train_x[55000:], train_y[55000:]),
            "test": (test_x, test_y)}[split]


def paste(canvas, mask, item, label, top, left):
    """Pastes one item (cut at the border) onto a canvas and its mask, in place."""
    size = item.shape[0]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + size, CANVAS), min(left + size, CANVAS)
    if y0 >= y1 or x0 >= x1:
        return
    part = item[y0 - top:y1 - top, x0 - left:x1 - left]
    region = canvas[y0:y1, x0:x1]
    bright = part > BRIGHT
    region[...] = np.where(bright, part, np.maximum(region, part))
    mask[y0:y1, x0:x1][bright] = label


def canvases(split, n, seed=0, variant="base"):
    """n canvases of `split`: (images, masks), uint8 (n, 64, 64). Canvas i does not depend
    on n (the draws are sequential), so a prefix of a larger set equals a smaller set."""
    scale, fewest, most, low, high, tag = VARIANTS[variant]
    pool_x, pool_y = item_pool(split)
    words = [FAMILY, SPLITS[split][0], int(seed)] + list(tag)
    rng = np.random.default_rng(np.random.SeedSequence(words))
    images = np.zeros((n, CANVAS, CANVAS), np.uint8)
    masks = np.zeros((n, CANVAS, CANVAS), np.uint8)
    for i in range(n):
        count = int(rng.integers(fewest, most + 1))
        picks = rng.integers(0, len(pool_x), size=count)
        offsets = rng.integers(low, high + 1, size=(count, 2))
        for pick, (top, left) in zip(picks, offsets):
            item = pool_x[pick]
            if scale > 1:
                item = np.kron(item, np.ones((scale, scale), np.uint8))
            paste(images[i], masks[i], item, int(pool_y[pick]) + 1, int(top), int(left))
    return images, masks


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def check(variants=("base", "big")):
    """Compares the first 8 canvases of every split with the reference digests; returns
    the list of mismatches (empty when everything matches)."""
    bad = []
    for variant in variants:
        for split in SPLITS:
            got = digest(*canvases(split, 8, variant=variant))
            if got != FIRST8[(variant, split)]:
                bad.append(f"{variant}/{split}: {got} != {FIRST8[(variant, split)]}")
    return bad


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="all", choices=["base", "big", "all"])
    parser.add_argument("--out", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data-cache", "seg")))
    parser.add_argument("--check", action="store_true", help="only compare a few canvases with the reference digests")
    args = parser.parse_args()
    variants = ["base", "big"] if args.variant == "all" else [args.variant]
    if args.check:
        bad = check(variants)
        print("\n".join(bad) if bad else f"ok: {', '.join(variants)} match the reference digests")
        sys.exit(1 if bad else 0)
    for variant in variants:
        folder = os.path.join(args.out, variant)
        os.makedirs(folder, exist_ok=True)
        for split, (_, n) in SPLITS.items():
            start = time.time()
            images, masks = canvases(split, n, variant=variant)
            got, want = digest(images, masks), FULL[(variant, split)]
            if got != want:
                sys.exit(f"{variant}/{split}: digest {got} differs from the reference {want}; nothing written")
            np.save(os.path.join(folder, f"{split}_images.npy"), images)
            np.save(os.path.join(folder, f"{split}_masks.npy"), masks)
            share = np.bincount(masks.ravel(), minlength=NUM_CLASSES) / masks.size
            print(f"{variant}/{split}: {n} canvases, sha256 {got} (matches), background {share[0]:.3f}, "
                  f"{time.time() - start:.1f} s -> {folder}/{split}_{{images,masks}}.npy")


if __name__ == "__main__":
    main()
