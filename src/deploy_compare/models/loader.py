"""Resolve `--model`: a built-in model or a user factory `pkg.module:factory`.

Built-in: `builtin` (= `builtin:digits_cnn`, the small digits CNN) or an image preset at
a real size, `builtin:mobilenet_v2` / `builtin:resnet18`, 224x224x3 unless `@SIZE` asks
for a smaller square input (`builtin:resnet18@64`, for quick runs); see presets.py; or the
text preset `builtin:text_encoder`, a BERT-class encoder with two int64 inputs (text.py).

A factory takes no arguments and returns either a ModelBundle, or a tuple
    (module, example_input)                       or
    (module, example_input, eval_inputs)          or
    (module, example_input, (eval_inputs, eval_labels)).
A model whose forward() takes several inputs gets each batch as a tuple of arrays in
forward() order (named after forward()'s parameters) or a dict {parameter name: array}.
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
from .names import TEXT, parse_builtin
from .spec import ModelBundle

RANDOM_EVAL_SAMPLES = 256


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
    names = _forward_inputs(spec, module, example)
    if not names and isinstance(example, (tuple, list)):  # one input given as a 1-tuple
        example = example[0]
        if isinstance(eval_inputs, (tuple, list)) and len(eval_inputs) == 1:
            eval_inputs = eval_inputs[0]
    if names:
        return _named_bundle(spec, module, names, example, eval_inputs, eval_labels)
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


def _forward_inputs(spec: str, module: object, example: object) -> list[str]:
    """The names of forward()'s inputs when the example holds several (tuple or dict); [] for one array.

    A model that needs more inputs than the example gives is refused here with the names it
    wants, instead of failing later inside an exporter with forward()'s own TypeError.
    """
    import inspect

    try:
        parameters = list(inspect.signature(module.forward).parameters.values())  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        parameters = []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    if isinstance(example, dict):
        names = [str(k) for k in example]
        unknown = [n for n in names if n not in [p.name for p in positional]]
        missing = [n for n in required if n not in names]
        if unknown or missing:
            raise ModelLoadError(
                f"--model {spec!r}: the example batch names inputs {names}, but forward() takes "
                f"{[p.name for p in positional]}" + (f" (missing: {', '.join(missing)})" if missing else "")
            )
        return names
    given = len(example) if isinstance(example, (tuple, list)) else 1
    if given < len(required) or (positional and given > len(positional)):
        raise ModelLoadError(
            f"--model {spec!r}: forward() takes {len(required)} input(s) ({', '.join(required)}) but the example "
            f"batch is {given} array(s); return the example (and eval inputs) as a tuple in forward() order "
            "or a dict {input name: array}"
        )
    if not isinstance(example, (tuple, list)) or given == 1:
        return []
    return [p.name for p in positional[:given]]


def _named_bundle(
    spec: str, module: object, names: list[str], example: object, eval_inputs: object, eval_labels: object
) -> ModelBundle:
    """A bundle of a several-input model: every batch becomes a dict in forward() order."""

    def named(value: object, what: str) -> dict[str, object]:
        if isinstance(value, dict):
            return {n: value[n] for n in names}
        if not isinstance(value, (tuple, list)) or len(value) != len(names):
            raise ModelLoadError(f"--model {spec!r}: {what} must hold {len(names)} arrays ({', '.join(names)})")
        return dict(zip(names, value))

    example_named = named(example, "the example batch")
    if eval_inputs is None:
        eval_named = _random_like(example_named)
    else:
        eval_named = named(eval_inputs, "the eval inputs")
    module.eval()  # type: ignore[attr-defined]
    return ModelBundle(
        name=spec.rpartition(":")[2],
        source=spec,
        module=module,
        example_input=example_named,  # type: ignore[arg-type]
        eval_inputs=eval_named,  # type: ignore[arg-type]
        eval_labels=eval_labels,  # type: ignore[arg-type]
        layout="NC",
    )


def _random_like(example: dict[str, object]) -> dict[str, object]:
    """Seeded inputs beside the example: floats as standard normal noise, integers drawn from
    the range the example's own values span (token ids stay valid ids, masks stay 0/1)."""
    rng = np.random.default_rng(0)
    out: dict[str, object] = {}
    for name, value in example.items():
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        shape = (RANDOM_EVAL_SAMPLES, *array.shape[1:])
        if array.dtype.kind in "iub":
            noise = rng.integers(int(array.min()), int(array.max()) + 1, size=shape).astype(np.int64)
            out[name] = np.concatenate([array.astype(np.int64), noise])
        else:
            out[name] = np.concatenate([array.astype(np.float32), rng.standard_normal(shape).astype(np.float32)])
    return out


def load_model(spec: str, cache_dir: Path, progress: Callable[[str], None] = print) -> ModelBundle:
    builtin = parse_builtin(spec)
    if builtin is not None:
        base, size = builtin
        if base == TEXT:
            from . import text

            return text.build(cache_dir, progress=progress)
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
