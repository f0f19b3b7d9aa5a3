"""The typed errors users catch: one class per kind of problem, whichever plugin raised it."""

import pytest

import zoo


def test_a_builder_option_error_of_any_first_party_plugin_is_the_cores_model_config_error(tmp_path):
    """Each plugin had its own ModelConfigError, unrelated to the core's of the same name: catching
    zoo.ModelConfigError caught none of them. An unreadable image file is an error of its own."""
    from zoo.preprocessing import Preprocessing

    with pytest.raises(zoo.ModelConfigError):
        zoo.create("unet", depth=0)
    with pytest.raises(zoo.ModelConfigError):
        zoo.create("cnn_cam", num_classes=-1)
    with pytest.raises(zoo.ModelConfigError):
        zoo.create("maskrcnn_mini", num_classes=1)
    with pytest.raises(zoo.ModelConfigError):
        zoo.create("timm/resnet18", in_chans=0)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(zoo.ImageFileError, match="not an image Pillow can read"):
        Preprocessing.from_config({}, 3).load(tmp_path / "notes.png")
