"""zoo.visualize: class-colour overlays and instance drawings (used by `zoo predict`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.visualize import class_colours, draw_instances, overlay_segmentation

NAMES = ["background", "circle", "square", "triangle"]


def grey(h=64, w=96):
    return np.full((h, w, 3), 50, np.uint8)


def test_class_colours_are_distinct_for_any_count():
    for n in (2, 4, 10, 15, 40):
        colours = class_colours(n)
        assert len(colours) == n and len(set(colours)) == n
    assert class_colours(4) == class_colours(10)[:4]  # stable: class i keeps its colour


def test_overlay_tints_classes_and_keeps_the_background():
    image = grey()
    mask = np.zeros((64, 96), np.int64)
    mask[30:60, 50:90] = 2
    out = overlay_segmentation(Image.fromarray(image), torch.from_numpy(mask), NAMES, alpha=0.5)
    assert out.size == (96, 64) and out.mode == "RGB"
    drawn = np.asarray(out).astype(int)
    expected = (np.array(class_colours(4)[2]) + 50) / 2
    assert np.abs(drawn[35:55, 55:85] - expected).max() <= 1
    assert (drawn[30:, :40] == 50).all()  # background below the legend is untouched
    assert (drawn[:8, :8] != 50).any()  # the legend, top-left
    plain = np.asarray(overlay_segmentation(image, mask, NAMES, legend=False, background=None))
    assert (plain != 50).all()  # background=None colours class 0 too


def test_images_are_taken_in_the_same_forms_as_by_zoo_overlay():
    """A model's (C, H, W) float input in [0, 1] works as in zoo.overlay (it used to be refused)."""
    mask = np.zeros((64, 96), np.int64)
    mask[10:20, 10:30] = 1
    as_uint8 = np.asarray(overlay_segmentation(grey(), mask, NAMES))
    as_tensor = torch.from_numpy(grey()).permute(2, 0, 1).float() / 255
    assert np.array_equal(np.asarray(overlay_segmentation(as_tensor, mask, NAMES)), as_uint8)
    prediction = {"boxes": torch.tensor([[5.0, 5.0, 40.0, 30.0]]), "labels": torch.tensor([2]),
                  "scores": torch.tensor([0.9])}
    assert np.array_equal(np.asarray(draw_instances(as_tensor.to(torch.bfloat16), prediction, NAMES)),
                          np.asarray(draw_instances(grey(), prediction, NAMES)))


def test_overlay_rejects_a_mask_of_another_size():
    with pytest.raises(ValueError, match="does not match"):
        overlay_segmentation(grey(), np.zeros((32, 32), np.int64), NAMES)


def test_draw_instances_draws_kept_detections_only():
    masks = torch.zeros(2, 1, 64, 96)
    masks[0, 0, 20:40, 10:40] = 0.9
    masks[1, 0, 20:40, 60:90] = 0.9
    prediction = {"boxes": torch.tensor([[10.0, 20, 40, 40], [60, 20, 90, 40]]),
                  "labels": torch.tensor([1, 3]), "scores": torch.tensor([0.9, 0.2]), "masks": masks}
    drawn = np.asarray(draw_instances(grey(), prediction, NAMES, score_threshold=0.5)).astype(int)
    assert drawn.shape == (64, 96, 3)
    assert (drawn[28:36, 15:35] != 50).any(-1).all()  # the kept instance's mask
    # the low-scoring one is not drawn (rows from 22: the kept one's label, above its box at y=20, reaches
    # row 20 and x=78 in Pillow's bitmap font, which Pillow < 10.1 draws with)
    assert (drawn[22:42, 58:92] == 50).all()
    # the box, drawn larger than its mask: its outline in the class colour, nothing inside it but the mask
    boxed = {**prediction, "boxes": torch.tensor([[6.0, 16, 46, 60], [60, 20, 90, 40]])}
    drawn = np.asarray(draw_instances(grey(), boxed, NAMES, score_threshold=0.5)).astype(int)
    colour = class_colours(len(NAMES))[1]
    for y, x in ((30, 6), (30, 45), (16, 25), (59, 25)):  # left, right, top and bottom edges
        assert tuple(drawn[y, x]) == colour, (y, x)
    assert (drawn[45:58, 8:44] == 50).all()  # inside the box, below the mask
    assert (drawn[:14, 6:20] != 50).any()  # the "circle 0.90" label above the box
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
             "scores": torch.zeros(0), "masks": torch.zeros(0, 1, 64, 96)}
    assert (np.asarray(draw_instances(grey(), empty, NAMES)) == 50).all()


def test_class_colours_switch_palette_only_beyond_its_size():
    assert class_colours(20)[:11] == class_colours(11)  # tab20 up to 20 classes, turbo beyond
    assert class_colours(10) == class_colours(5) + class_colours(10)[5:]


def test_overlay_names_a_class_the_names_do_not_cover_and_leaves_a_background_image_alone():
    mask = np.zeros((64, 96), np.int64)
    mask[40:60, 60:90] = 6  # the model predicted a class index beyond the names given
    out = np.asarray(overlay_segmentation(grey(), mask, NAMES, alpha=1.0)).astype(int)
    assert tuple(out[50, 75]) == class_colours(7)[6]
    only_background = np.zeros((64, 96), np.int64)
    assert (np.asarray(overlay_segmentation(grey(), only_background, NAMES)) == 50).all()  # no legend of nothing


def test_draw_instances_keeps_a_score_at_the_threshold_and_draws_the_best_on_top():
    masks = torch.zeros(2, 1, 64, 96)
    masks[:, 0, 20:50, 20:70] = 1.0  # the same pixels
    prediction = {"boxes": torch.tensor([[0.0, 0, 96, 64], [0, 0, 96, 64]]), "labels": torch.tensor([1, 3]),
                  "scores": torch.tensor([0.5, 0.8]), "masks": masks}
    drawn = np.asarray(draw_instances(grey(), prediction, NAMES, score_threshold=0.5, alpha=1.0)).astype(int)
    assert tuple(drawn[35, 45]) == class_colours(len(NAMES))[3]  # the 0.8 one, drawn last
    lone = {key: value[:1] for key, value in prediction.items()}  # the one scoring exactly the threshold
    drawn = np.asarray(draw_instances(grey(), lone, NAMES, score_threshold=0.5, alpha=1.0)).astype(int)
    assert tuple(drawn[35, 45]) == class_colours(len(NAMES))[1]


def test_a_label_with_no_room_above_its_box_is_drawn_inside_it():
    prediction = {"boxes": torch.tensor([[10.0, 0, 80, 60]]), "labels": torch.tensor([2]), "scores": torch.tensor([0.9])}
    drawn = np.asarray(draw_instances(grey(), prediction, NAMES)).astype(int)
    assert (drawn[3:8, 14:30] != 50).any()  # "square 0.90" at the top inside the box, not cut off above the image


def test_label_text_is_dark_on_light_colours_and_light_on_dark_ones():
    from zoo.visualize import _ink

    assert _ink((255, 255, 0)) == (0, 0, 0) and _ink((0, 0, 128)) == (255, 255, 255)


def test_a_target_without_scores_is_drawn_whole():
    """A training target (boxes, labels, masks; no scores) draws as ground truth."""
    target = {"boxes": torch.tensor([[10.0, 20, 40, 40]]), "labels": torch.tensor([1])}
    drawn = np.asarray(draw_instances(grey(), target, NAMES)).astype(int)
    assert tuple(drawn[30, 10]) == class_colours(len(NAMES))[1]  # the box's left edge


def test_an_instance_mask_is_drawn_where_its_probability_reaches_mask_threshold():
    masks = torch.zeros(1, 1, 64, 96)
    masks[0, 0, 20:40, 10:40] = 0.5  # at the threshold: drawn
    masks[0, 0, 20:40, 50:80] = 0.3  # a soft fringe below it: not drawn
    prediction = {"boxes": torch.tensor([[0.0, 0, 96, 64]]), "labels": torch.tensor([1]),
                  "scores": torch.tensor([0.9]), "masks": masks}
    colour = class_colours(len(NAMES))[1]
    drawn = np.asarray(draw_instances(grey(), prediction, NAMES, alpha=1.0)).astype(int)
    assert tuple(drawn[30, 25]) == colour and (drawn[25:35, 55:75] == 50).all()
    drawn = np.asarray(draw_instances(grey(), prediction, NAMES, alpha=1.0, mask_threshold=0.25)).astype(int)
    assert tuple(drawn[30, 65]) == colour
