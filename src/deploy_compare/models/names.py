"""What `--model` names: the built-in models, their sizes, and the name artifacts go under.

Apart from loader.py (which builds them, importing torch lazily) so that a builder such as
presets.py can name its model without importing the loader that imports it.
"""

from __future__ import annotations

from ..errors import ModelLoadError

BUILTIN = "builtin"
DIGITS = "digits_cnn"
IMAGE_PRESETS = ("mobilenet_v2", "resnet18")  # built by presets.py
TEXT = "text_encoder"  # built by text.py
DEFAULT_IMAGE_SIZE = 224
MIN_IMAGE_SIZE = 32  # both presets downsample 32x


def parse_builtin(spec: str) -> tuple[str, int | None] | None:
    """(name, input size or None) for a built-in model spec; None for a user factory.

    'builtin' and 'builtin:digits_cnn' -> ('digits_cnn', None);
    'builtin:resnet18' -> ('resnet18', 224); 'builtin:resnet18@64' -> ('resnet18', 64).
    """
    if spec in (BUILTIN, DIGITS, f"{BUILTIN}:{DIGITS}"):
        return DIGITS, None
    if spec == f"{BUILTIN}:{TEXT}":
        return TEXT, None
    if not spec.startswith(f"{BUILTIN}:"):
        return None
    base, _, size_text = spec.removeprefix(f"{BUILTIN}:").partition("@")
    if base not in IMAGE_PRESETS:
        choices = ", ".join(f"{BUILTIN}:{n}" for n in (DIGITS, *IMAGE_PRESETS, TEXT))
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
