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
# What a SavedModel consists of (the work folder also holds onnx2tf's input copy).
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


def zero_pad_max_pools_after_relu(onnx_path: str) -> list[str]:
    """Give each padded MaxPool that reads a Relu's output an explicit zero Pad before it
    (and no padding of its own); return the MaxPool nodes changed. The file is rewritten.

    onnx2tf turns a MaxPool whose padding TF's "SAME" cannot express (ResNet-18's stem:
    3x3, stride 2, pad 1) into PADV2 with the float minimum, -3.4e38, as the pad value.
    Full int8 calibration records that value, so the Relu's output, the PADV2 and the
    MAX_POOL_2D (one scale for all three) got a scale of 1.3e36: XNNPACK refused the next
    CONV_2D (requantization scale ~6e31, its limit is 256) and TFLite's built-in kernels
    aborted in the residual ADD's Prepare (an output multiplier CHECKed to be below 1).
    After a Relu every value is >= 0 and each pooling window holds a real one, so padding
    with 0 gives the same maximum: the float files are unchanged, and int8's PAD pads with
    its zero point inside the Relu's own range.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(onnx_path)
    graph = model.graph
    producers = {name: node for node in graph.node for name in node.output}
    nodes, changed = [], []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        pads = list(attrs.get("pads", []))
        producer = producers.get(node.input[0]) if node.input else None
        if (
            node.op_type == "MaxPool"
            and any(pads)
            and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and not attrs.get("ceil_mode", 0)  # ceil mode's extra end windows would change
            and len(node.output) == 1  # no Indices output
            and producer is not None
            and producer.op_type == "Relu"
        ):
            rank = len(pads) // 2  # ONNX Pad's pads: every axis' begins, then every axis' ends
            name = f"{node.name or node.output[0]}_zero_pad"
            full = np.array([0, 0, *pads[:rank], 0, 0, *pads[rank:]], dtype=np.int64)
            graph.initializer.append(numpy_helper.from_array(full, f"{name}_pads"))
            nodes.append(helper.make_node("Pad", [node.input[0], f"{name}_pads"], [f"{name}_out"], name=name))
            node.input[0] = f"{name}_out"
            for attribute in node.attribute:
                if attribute.name == "pads":
                    attribute.ints[:] = [0] * len(pads)
            changed.append(node.name or node.output[0])
        nodes.append(node)
    if changed:
        graph.ClearField("node")
        graph.node.extend(nodes)
        onnx.checker.check_model(model)
        onnx.save(model, onnx_path)
    return changed


def _write_savedmodel(model, folder: str) -> None:
    """The SavedModel onnx2tf writes with output_signaturedefs (onnx2tf.py, "saved_model
    output"): one `serving_default` endpoint over the Keras model, inputs named as its own."""
    import tensorflow as tf
    import tf_keras

    archive = tf_keras.export.ExportArchive()
    archive.add_endpoint(
        name=SAVEDMODEL_SIGNATURE,
        fn=lambda *inputs: model(inputs),
        input_signature=[tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs],
    )
    archive.write_out(folder)


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
        zero_padded = zero_pad_max_pools_after_relu(onnx_copy)
        try:
            with captured_output(log_path):
                import onnx2tf

                model = onnx2tf.convert(
                    input_onnx_file_path=onnx_copy,
                    output_folder_path=work,
                    output_signaturedefs=True,  # keeps `serving_default` for TF Serving
                    non_verbose=True,
                    # Saving, onnx2tf also converts the model to float32 and float16 .tflite
                    # files of its own, which we discard (tflite.py converts the SavedModel):
                    # ~95% of its time on ResNet-18 (Keras config serialization). So it only
                    # builds the model, and the SavedModel is written as it writes it.
                    disable_model_save=True,
                )
                _write_savedmodel(model, work)
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
            details={
                "signature": SAVEDMODEL_SIGNATURE,
                "converter": "onnx2tf",
                "source": "onnx",
                **({"max_pools_zero_padded": zero_padded} if zero_padded else {}),
            },
        )
    ]
