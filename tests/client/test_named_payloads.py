"""Payloads of a model with several named inputs (a text model's input_ids and attention_mask):
each protocol's named form, built in the one place (clients/payload.py) from the manifest's specs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploy_compare.batches import from_npz, to_npz_arrays
from deploy_compare.clients import Endpoint, build_payloads
from deploy_compare.errors import ManifestError
from deploy_compare.manifest import TensorSpec

pytestmark = pytest.mark.unit

LOGICAL = [TensorSpec("input_ids", [None, 4], "int64", "NC"), TensorSpec("attention_mask", [None, 4], "int64", "NC")]
# a converter's names and a narrower id type, listed in the model's order
SERVED = [
    TensorSpec("serving_default_input_ids:0", [None, 4], "int32", "NC"),
    TensorSpec("serving_default_attention_mask:0", [None, 4], "int64", "NC"),
]
X = {"input_ids": np.arange(12, dtype=np.int64).reshape(3, 4), "attention_mask": np.ones((3, 4), np.int64)}
REFERENCE = np.eye(3, dtype=np.float32)


def test_v2_request_has_one_tensor_per_input_under_the_served_names_and_types():
    ep = Endpoint(url="http://127.0.0.1:8000", encoding="kserve_v2", model="m", input_name="ignored")
    payloads = build_payloads(ep, X, REFERENCE, batch_size=2, named_inputs=(LOGICAL, SERVED))
    assert len(payloads) == 1 and payloads.expected_top1.tolist() == [[0, 1]]
    tensors = json.loads(payloads.requests[0].body)["inputs"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in tensors] == [
        ("serving_default_input_ids:0", "INT32", [2, 4]),
        ("serving_default_attention_mask:0", "INT64", [2, 4]),
    ]
    assert tensors[0]["data"] == list(range(8))


@pytest.mark.parametrize("protocol", ["tfserving", "torchserve"])
def test_row_format_sends_one_named_object_per_instance(protocol):
    ep = Endpoint(url="http://127.0.0.1:8000", encoding=protocol, model="m")
    served = [TensorSpec("input_ids", [None, 4], "int64", "NC"), TensorSpec("attention_mask", [None, 4], "int64", "NC")]
    payloads = build_payloads(ep, X, REFERENCE, batch_size=3, named_inputs=(LOGICAL, served))
    instances = json.loads(payloads.requests[0].body)["instances"]
    assert instances[1] == {"input_ids": [4, 5, 6, 7], "attention_mask": [1, 1, 1, 1]}


def test_a_served_artifact_with_another_input_count_is_refused():
    ep = Endpoint(url="http://127.0.0.1:8000", encoding="kserve_v2", model="m")
    with pytest.raises(ManifestError, match="has 1 input"):
        build_payloads(ep, X, REFERENCE, named_inputs=(LOGICAL, SERVED[:1]))


def test_eval_npz_round_trip_keeps_names_order_and_dtypes(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, **to_npz_arrays({"b": X["attention_mask"], "a": X["input_ids"]}), reference=REFERENCE)
    with np.load(path) as data:
        back = from_npz(data)
    assert list(back) == ["b", "a"] and back["a"].dtype == np.int64
    with np.load(path) as data:
        assert from_npz({"x": data["reference"]}).shape == (3, 3)  # a single input stays one array
