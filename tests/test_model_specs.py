"""--model specs: built-in names, image presets with their input size, user factories."""

from __future__ import annotations

import pytest

from deploy_compare.errors import ModelLoadError
from deploy_compare.exporters.pipeline import default_out_dir
from deploy_compare.models.names import model_name, parse_builtin

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "parsed", "name"),
    [
        ("builtin", ("digits_cnn", None), "digits_cnn"),
        ("builtin:digits_cnn", ("digits_cnn", None), "digits_cnn"),
        ("builtin:mobilenet_v2", ("mobilenet_v2", 224), "mobilenet_v2_224"),
        ("builtin:resnet18@64", ("resnet18", 64), "resnet18_64"),
        ("mypkg.models:make", None, "make"),
        ("path/to/file.py:factory", None, "factory"),
    ],
)
def test_specs_resolve_to_a_model_and_an_artifacts_name(spec, parsed, name):
    assert parse_builtin(spec) == parsed
    assert model_name(spec) == name
    assert default_out_dir(spec).name == name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("builtin:resnet50", "no such built-in model; built-in: builtin:digits_cnn, builtin:mobilenet_v2"),
        ("builtin:resnet18@20", "multiple of 8 >= 32"),
        ("builtin:resnet18@66", "multiple of 8 >= 32"),
        ("builtin:mobilenet_v2@big", "multiple of 8 >= 32"),
    ],
)
def test_bad_builtin_specs_name_the_choices(spec, message):
    with pytest.raises(ModelLoadError, match=message):
        parse_builtin(spec)
