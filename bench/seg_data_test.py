"""pytest: bench/seg_data.py reproduces the reference canvases (first 8 of each split)."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seg_data  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.isdir(seg_data.SOURCE), reason="dataset-fashion-mnist is not installed")


def test_digests_match_the_reference():
    assert seg_data.check() == []


def test_masks_label_bright_item_pixels():
    images, masks = seg_data.canvases("dev", 20, variant="base")
    assert images.shape == masks.shape == (20, 64, 64) and images.dtype == masks.dtype == np.uint8
    assert masks.max() < seg_data.NUM_CLASSES
    # Every labelled pixel is bright; background pixels may be dim parts of items.
    assert (images[masks > 0] > seg_data.BRIGHT).all()


def test_prefix_is_stable():
    small = seg_data.canvases("test", 3, variant="big")
    large = seg_data.canvases("test", 6, variant="big")
    assert all((a == b[:3]).all() for a, b in zip(small, large))
