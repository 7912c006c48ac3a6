"""Resolve `--model`: a built-in model or a user factory `pkg.module:factory`.

Built-in: `builtin` (= `builtin:digits_cnn`, the small digits CNN) or an image preset at
a real size, `builtin:mobilenet_v2` / `builtin:resnet18`, 224x224x3 unless `@SIZE` asks
for a smaller square input (`builtin:resnet18@64`, for quick runs); see presets.py.

A factory takes no arguments and returns either a ModelBundle, or a tuple
    (module, example_input)                       or
    (module, example_input, eval_inputs)          or
    (module, example_input, (eval_inputs, eval_labels)).
`pkg.module` may also be a path to a .py file (`models/my_model.py:make`).
Without an evaluation set, parity is checked on the example batch plus seeded random
inputs of the same shape (no accuracy is reported then).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError
from .spec import ModelBundle

BUILTIN = "builtin"
DIGITS = "digits_cnn"
IMAGE_PRESETS = ("mobilenet_v2", "resnet18")  # built by presets.py
DEFAULT_IMAGE_SIZE = 224
MIN_IMAGE_SIZE = 32  # both presets downsample 32x
RANDOM_EVAL_SAMPLES = 256


def parse_builtin(spec: str) -> tuple[str, int | None] | None:
    """(name, input size or None) for a built-in model spec; None for a user factory.

    'builtin' and 'builtin:digits_cnn' -> ('digits_cnn', None);
    'builtin:resnet18' -> ('resnet18', 224); 'builtin:resnet18@64' -> ('resnet18', 64).
    """
    if spec in (BUILTIN, DIGITS, f"{BUILTIN}:{DIGITS}"):
        return DIGITS, None
    if not spec.startswith(f"{BUILTIN}:"):
        return None
    base, _, size_text = spec.removeprefix(f"{BUILTIN}:").partition("@")
    if base not in IMAGE_PRESETS:
        choices = ", ".join(f"{BUILTIN}:{n}" for n in (DIGITS, *IMAGE_PRESETS))
        raise ModelLoadError(f"--model {spec!r}: no such built-in model; built-in: {choices}")
    if not size_text:
        return base, DEFAULT_IMAGE_SIZE
    if not size_text.isdigit() or int(size_text) < MIN_IMAGE_SIZE or int(size_text) % 8:
        raise ModelLoadError(
            f"--model {spec!r}: the input size after '@' must be a multiple of 8 >= {MIN_IMAGE_SIZE}, got {size_text!r}"
        )
    return base, int(size_text)


def model_name(spec: str) -> str:
    """The name a model's artifacts go under: digits_cnn, resnet18_224, or the factory's name."""
    builtin = parse_builtin(spec)
    if builtin is None:
        return spec.rpartition(":")[2]
    base, size = builtin
    return base if size is None else f"{base}_{size}"


def _import_factory(spec: str) -> Callable[[], object]:
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ModelLoadError(f"--model {spec!r}: expected 'package.module:factory' or 'file.py:factory'")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise ModelLoadError(f"--model {spec!r}: file {path} does not exist")
            unique = f"deploy_compare_user_model_{abs(hash(path.resolve()))}"
            file_spec = importlib.util.spec_from_file_location(unique, path)
            if file_spec is None or file_spec.loader is None:
                raise ModelLoadError(f"--model {spec!r}: {path} cannot be imported as a Python module")
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[unique] = module
            file_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ModelLoadError:
        raise
    except Exception as exc:  # any import-time failure of user code is reported the same way
        raise ModelLoadError(f"--model {spec!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelLoadError(f"--model {spec!r}: {module_name!r} has no callable {attr!r}")
    return factory


def _bundle_from_factory(spec: str, result: object) -> ModelBundle:
    import torch

    if isinstance(result, ModelBundle):
        return result
    if not isinstance(result, tuple) or len(result) not in (2, 3):
        raise ModelLoadError(
            f"--model {spec!r}: the factory must return a ModelBundle or (module, example_input[, eval_set]), "
            f"got {type(result).__name__}"
        )
    module, example = result[0], result[1]
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(
            f"--model {spec!r}: first returned value must be a torch.nn.Module, got {type(module).__name__}"
        )
    eval_inputs, eval_labels = None, None
    if len(result) == 3 and result[2] is not None:
        eval_set = result[2]
        if isinstance(eval_set, tuple):
            eval_inputs, eval_labels = eval_set
        else:
            eval_inputs = eval_set
    example = np.asarray(example.detach().cpu().numpy() if hasattr(example, "detach") else example, dtype=np.float32)
    if eval_inputs is None:
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((RANDOM_EVAL_SAMPLES, *example.shape[1:])).astype(np.float32)
        eval_inputs = np.concatenate([example, noise])
    layout = "NCHW" if example.ndim == 4 else ("NCL" if example.ndim == 3 else "NC")
    name = spec.rpartition(":")[2]
    module.eval()
    return ModelBundle(
        name=name,
        source=spec,
        module=module,
        example_input=example,
        eval_inputs=eval_inputs,
        eval_labels=eval_labels,
        layout=layout,
    )


def load_model(spec: str, cache_dir: Path, progress: Callable[[str], None] = print) -> ModelBundle:
    builtin = parse_builtin(spec)
    if builtin is not None:
        base, size = builtin
        if size is None:
            from . import reference

            return reference.build(cache_dir, progress=progress)
        from . import presets

        return presets.build(base, size, cache_dir, progress=progress)
    factory = _import_factory(spec)
    try:
        result = factory()
    except Exception as exc:
        raise ModelLoadError(f"--model {spec!r}: the factory raised {type(exc).__name__}: {exc}") from exc
    return _bundle_from_factory(spec, result)
