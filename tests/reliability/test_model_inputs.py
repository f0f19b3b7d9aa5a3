"""Bad model inputs fail at the door with the zoo's InputError (a ValueError), in created models
and in explainers, never as a shape error deep inside a conv (issue 9, Model inputs)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo

FIRST_PARTY = [n for n in zoo.list_models() if not n.startswith("timm/")
               and zoo.model_info(n).distribution.startswith("visionzoo-")
               and not n.endswith(("_large", "_vgg16"))]  # the paper-sized variants only cost time
DENSE = [n for n in FIRST_PARTY if zoo.model_info(n).task != "instance_segmentation"] + ["timm/resnet18"]
INSTANCE = [n for n in FIRST_PARTY if zoo.model_info(n).task == "instance_segmentation"]


def test_there_is_something_to_check():
    assert DENSE and INSTANCE, "first-party plugins are not installed"


def bad_batches(in_chans):
    return {
        "3-D tensor": torch.rand(in_chans, 64, 64),
        "wrong channel count": torch.rand(1, in_chans + 1, 64, 64),
        "integer dtype": torch.randint(0, 255, (1, in_chans, 64, 64), dtype=torch.uint8),
        "empty batch": torch.rand(0, in_chans, 64, 64),
        "smaller than the minimum": torch.rand(1, in_chans, 2, 2),
        "sparse layout": torch.rand(1, in_chans, 64, 64).to_sparse(),  # torch: "unsupported memory format"
        "boolean": torch.ones(1, in_chans, 64, 64, dtype=torch.bool),
        "no channels": torch.rand(1, 0, 64, 64),  # the advice was "create the model with in_chans=0"
    }


FIXES = {"sparse layout": "convert with x.to_dense()", "boolean": "convert with x.float().",  # not / 255
         "no channels": "the images have no channels"}


@pytest.mark.parametrize("name", DENSE)
def test_dense_models_reject_bad_batches_clearly(name):
    model = zoo.create(name).eval()
    in_chans = 3 if name.startswith("timm/") else zoo.model_info(name).defaults.get("in_chans", 3)
    for problem, batch in bad_batches(in_chans).items():
        if name.startswith("timm/") and problem == "smaller than the minimum":
            continue  # timm declares no minimum size
        with pytest.raises(zoo.InputError) as excinfo, torch.no_grad():
            model(batch)
        assert isinstance(excinfo.value, ValueError), problem
        assert "got" in str(excinfo.value) or "no channels" in str(excinfo.value), problem  # says what it received
        assert FIXES.get(problem, "") in str(excinfo.value), problem


@pytest.mark.parametrize("name", INSTANCE)
def test_instance_models_reject_bad_images_clearly(name):
    model = zoo.create(name).eval()
    bad = {
        "wrong channel count": [torch.rand(1, 64, 64)],
        "integer dtype": [torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)],
        "2-D image": [torch.rand(64, 64)],
        "empty list": [],
    }
    for problem, images in bad.items():
        with pytest.raises(zoo.InputError), torch.no_grad():
            model(images)


@pytest.mark.parametrize("name", DENSE + INSTANCE)
def test_a_batch_of_another_float_dtype_than_the_model_names_both_fixes(name):
    """A float64 batch on a float32 model gave torch's "expected scalar type Double but found Float"
    from inside the first layer. Autocast, which converts the input itself, and a model converted
    to the batch's dtype still run."""
    model = zoo.create(name).eval()
    in_chans = 3 if name.startswith("timm/") else zoo.model_info(name).defaults.get("in_chans", 3)
    batch = torch.rand(1, in_chans, 64, 64, dtype=torch.float64)

    def run(images):
        with torch.no_grad():
            return model([images[0]] if name in INSTANCE else images)

    advice = (r"cast each image with \[image\.float\(\) for image in images\]" if name in INSTANCE
              else r"cast the batch with images\.float\(\)")
    with pytest.raises(zoo.InputError, match=rf"float64 but the model's parameters are torch\.float32; {advice} "
                                             r"\(or the model with model\.double\(\)\)"):
        run(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        run(batch.bfloat16())  # autocast runs a bfloat16 batch on float32 weights: not refused
        with pytest.raises(zoo.InputError, match="float64"):  # a dtype autocast does not convert
            run(batch)
    model.double()
    run(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(zoo.InputError, match="model.float"):
        run(batch.float())  # nor does it convert anything for a float64 model


@pytest.mark.parametrize("problem", ["3-D tensor", "wrong channel count", "integer dtype", "empty batch"])
@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients"])
def test_explainers_reject_bad_batches_clearly(problem, method):
    """Refused by the explainer itself, before the model runs: cnn_cam's own forward refuses the same
    batches, and its error stood in for an explainer that checked nothing."""
    model = zoo.create("cnn_cam").eval()
    in_chans = zoo.model_info("cnn_cam").defaults.get("in_chans", 3)
    with pytest.raises(zoo.InputError, match=f"^explainer '{method}'[: ]"):
        zoo.explain(model, bad_batches(in_chans)[problem], method=method, target=0)


@pytest.mark.parametrize("method", ["cam", "gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad",
                                    "integrated_gradients", "guided_backprop", "rise"])
def test_explainers_refuse_images_holding_nan_or_inf(method):
    """The model's logits are then NaN and each method failed its own way: saliency gave a
    plausible-looking finite map, Grad-CAM zeros, integrated gradients NaN."""
    model = zoo.create("cnn_cam").eval()
    images = torch.rand(3, zoo.model_info("cnn_cam").defaults.get("in_chans", 3), 32, 32)
    images[1, 0, 4, 4] = float("nan")
    images[2, 0, 0, 0] = float("inf")
    with pytest.raises(zoo.InputError, match="image\\(s\\) 1, 2 of the batch hold NaN or Inf"):
        zoo.explain(model, images, method=method, target=0)


@pytest.mark.parametrize("name", ["unet_small", "segnet", "fcn8s"])
def test_segmentation_models_keep_any_input_size(name):
    model = zoo.create(name, num_classes=3).eval()

    @settings(max_examples=6, deadline=None)
    @given(h=st.integers(32, 111), w=st.integers(32, 111), n=st.integers(1, 2))
    def check(h, w, n):
        with torch.no_grad():
            assert model(torch.rand(n, 3, h, w)).shape == (n, 3, h, w)

    check()


def test_the_input_checks_say_how_to_mend_a_batch_dimension_and_take_the_minimum_size_itself():
    """``zoo.inputs`` is public for third-party plugins: its hints and its size boundary are its contract."""
    from zoo.inputs import check_image, check_image_batch

    with pytest.raises(zoo.InputError, match=r"Add a batch dimension with x\.unsqueeze\(0\)"):
        check_image_batch(torch.rand(3, 32, 32), in_chans=3)
    with pytest.raises(zoo.InputError, match=r"Pass a list of images, one \(C, H, W\) tensor each"):
        check_image(torch.rand(1, 3, 32, 32), in_chans=3)
    check_image_batch(torch.rand(1, 3, 32, 32), in_chans=3, min_size=32)  # exactly the minimum
    check_image(torch.rand(3, 32, 32), in_chans=3, min_size=32)
    for h, w in ((31, 32), (32, 31)):
        with pytest.raises(zoo.InputError, match=f"at least 32x32, got {h}x{w}"):
            check_image_batch(torch.rand(1, 3, h, w), in_chans=3, min_size=32)
