"""Runs INSIDE the TorchServe image at build time (Dockerfile.torchserve's RUN step).

Loads the TorchScript file of every .mar in the model store with the image's own torch, so
a version skew (a file written by a newer torch than the image ships) fails the BUILD with
one line naming both versions, instead of a worker crash loop at serve time. Writes the
image's runtime versions to a JSON file the launcher reads for results.json.

    python smoke_load.py <model-store> <exporter torch version> <versions.json>

Only the standard library and torch: it must run on any TorchServe base image.
"""

import json
import os
import sys
import tempfile
import zipfile

PREFIX = "deploy-compare smoke-load:"  # docker_base.SMOKE_FAILURE_PREFIX


def _version(package):
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return "unknown"


def _load(fmt, path, versions):
    """Load the file the way handler.py load_model will (an ONNX file needs onnxruntime in the
    image: the official one has none, the stand-in installs the lock's)."""
    import torch

    if fmt == "onnx":
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
        onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    elif fmt == "aoti":
        from torch._inductor import aoti_load_package

        aoti_load_package(path)
    else:
        torch.jit.load(path, map_location="cpu")


def main(store, exporter_torch, out):
    import torch

    versions = {
        "torch": torch.__version__,
        "torchserve": _version("torchserve"),
        "python": ".".join(str(n) for n in sys.version_info[:3]),
    }
    mars = sorted(name for name in os.listdir(store) if name.endswith(".mar"))
    if not mars:
        print(PREFIX, "no .mar file in", store, flush=True)
        return 1
    for mar in mars:
        with zipfile.ZipFile(os.path.join(store, mar)) as archive:
            manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
            serialized = manifest["model"]["serializedFile"]
            fmt = json.loads(archive.read("handler_config.json")).get("format", "torchscript")
            with tempfile.TemporaryDirectory() as tmp:
                path = archive.extract(serialized, tmp)
                try:
                    _load(fmt, path, versions)
                except ImportError as exc:
                    print(
                        PREFIX,
                        f"{mar} needs {exc.name or exc} in the image to load its {fmt} file; the official "
                        "TorchServe image ships no onnxruntime (the stand-in base installs the lock's)",
                        flush=True,
                    )
                    return 1
                except Exception as exc:
                    message = str(exc).strip().splitlines()
                    first = message[0] if message else ""
                    print(
                        PREFIX,
                        f"{mar} does not load in the image's runtime: the {fmt} file was written by torch "
                        f"{exporter_torch}, the image has torch {torch.__version__} ({type(exc).__name__}: {first})",
                        flush=True,
                    )
                    return 1
    with open(out, "w") as fh:
        json.dump(versions, fh)
    print("smoke-load OK:", ", ".join(mars), json.dumps(versions), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
