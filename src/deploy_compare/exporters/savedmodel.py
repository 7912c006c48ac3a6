"""TensorFlow SavedModel from the ONNX file via onnx2tf, with the `serving_default` signature
that TF Serving loads. onnx2tf turns the input channel-last (NHWC); the manifest says so."""

from __future__ import annotations

import shutil
import tempfile
import time

from ..errors import ExportError, first_line
from ..fileio import atomic_path, sha256_of, size_of
from ..manifest import SAVEDMODEL_SIGNATURE, ArtifactEntry, TensorSpec
from ..versions import package_versions
from .base import ExportContext, captured_output, in_logical_order, log_tail, onnx2tf_layout, quiet_tensorflow

DIR_NAME = "savedmodel"
# What a SavedModel consists of; onnx2tf also drops .tflite files in its output folder,
# which are not ours (TFLite comes from TFLiteConverter, see tflite.py).
SAVEDMODEL_PARTS = ("saved_model.pb", "variables", "assets", "fingerprint.pb")


def _signature_specs(path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures[SAVEDMODEL_SIGNATURE]
    inputs = [
        TensorSpec(name, list(spec.shape.as_list()), spec.dtype.name, onnx2tf_layout(spec.shape.rank))
        for name, spec in sorted(fn.structured_input_signature[1].items())
    ]
    outputs = [
        TensorSpec(name, list(spec.shape.as_list()), spec.dtype.name, "NC" if spec.shape.rank == 2 else "ANY")
        for name, spec in sorted(fn.structured_outputs.items())
    ]
    return inputs, outputs


def export(ctx: ExportContext) -> list[ArtifactEntry]:
    quiet_tensorflow()
    started = time.perf_counter()
    onnx_path = ctx.path_of("onnx")
    log_path = ctx.log_dir / "onnx2tf.log"
    path = ctx.out_dir / DIR_NAME
    work = tempfile.mkdtemp(prefix=".onnx2tf.", suffix=".partial", dir=ctx.out_dir)
    try:
        # onnx2tf rewrites its input file in place (it simplifies the graph), so it gets a
        # copy: the manifest's ONNX artifact must stay byte-identical to what it recorded.
        onnx_copy = shutil.copy(onnx_path, f"{work}/input.onnx")
        try:
            with captured_output(log_path):
                import onnx2tf

                onnx2tf.convert(
                    input_onnx_file_path=onnx_copy,
                    output_folder_path=work,
                    output_signaturedefs=True,  # keeps `serving_default` for TF Serving
                    copy_onnx_input_output_names_to_tflite=True,
                    non_verbose=True,
                )
        except BaseException as exc:  # onnx2tf calls sys.exit on some failures
            if isinstance(exc, KeyboardInterrupt):
                raise
            tail = log_tail(log_path)
            raise ExportError(
                f"savedmodel: onnx2tf could not convert {onnx_path} ({first_line(exc)})" + (f"\n{tail}" if tail else "")
            ) from None
        with atomic_path(path) as tmp:
            tmp.mkdir()
            for part in SAVEDMODEL_PARTS:
                src = f"{work}/{part}"
                try:
                    shutil.move(src, tmp / part)
                except FileNotFoundError:
                    if part == "saved_model.pb":
                        raise ExportError(f"savedmodel: onnx2tf wrote no saved_model.pb (see {log_path})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        inputs, outputs = _signature_specs(path)
        inputs = in_logical_order(inputs, ctx.bundle.input_names, "savedmodel")
    except Exception as exc:
        raise ExportError(
            f"savedmodel: {path} has no loadable {SAVEDMODEL_SIGNATURE!r} signature ({first_line(exc)})"
        ) from exc
    return [
        ArtifactEntry(
            name="savedmodel",
            format="savedmodel",
            variant="fp32",
            path=DIR_NAME,
            size_bytes=size_of(path),
            sha256=sha256_of(path),
            inputs=inputs,
            outputs=outputs,
            export_seconds=round(time.perf_counter() - started, 3),
            tools=package_versions("onnx2tf", "tensorflow-cpu", "onnx"),
            details={"signature": SAVEDMODEL_SIGNATURE, "converter": "onnx2tf", "source": "onnx"},
        )
    ]
