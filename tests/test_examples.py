"""The shipped example inputs are the ones the project's drawing code makes."""

import numpy as np

from tf_style import images
from tf_style.examples import draw


def test_committed_examples_match_their_drawing_code():
    left, right = draw.draw_halves()
    for drawn, path in ((draw.draw_content(), draw.CONTENT_PATH),
                        (draw.draw_style(), draw.STYLE_PATH),
                        (draw.draw_second_style(), draw.SECOND_STYLE_PATH),
                        (left.convert("RGB"), draw.MASK_PATHS[0]),
                        (right.convert("RGB"), draw.MASK_PATHS[1])):
        committed = images.load_image(path)
        assert committed.shape == np.asarray(drawn).shape
        # Pillow versions may anti-alias an edge differently; the pictures are the same.
        assert np.abs(committed - np.asarray(drawn, np.float32)).mean() < 1.0
