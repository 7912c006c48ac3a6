"""Protobuf messages built from descriptors at import time: no generated _pb2 files, no
grpcio-tools, nothing fetched. The KServe v2 messages (v2_grpc.py) and each stack's own gRPC
messages (servers/<stack>/encodings.py) declare only the fields this toolkit reads or
writes; their names, numbers and types are those of the published .proto files, so the
bytes on the wire are the same (a field left out is skipped as unknown when parsing, as
protobuf does for any newer field).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def field(
    msg: descriptor_pb2.DescriptorProto, name: str, number: int, ftype: int, label: int = F.LABEL_OPTIONAL, **kw: Any
) -> None:
    f = msg.field.add(name=name, number=number, type=ftype, label=label, **kw)
    if ftype in (F.TYPE_INT64,) and label == F.LABEL_REPEATED:
        f.options.packed = True


def map_field(msg: descriptor_pb2.DescriptorProto, package: str, name: str, number: int, value_type: str) -> None:
    """map<string, value_type> `name` = number: a repeated nested <Name>Entry {key = 1; value = 2}."""
    entry = msg.nested_type.add(name="".join(part.title() for part in name.split("_")) + "Entry")
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_MESSAGE, type_name=value_type)
    field(msg, name, number, F.TYPE_MESSAGE, F.LABEL_REPEATED, type_name=f".{package}.{msg.name}.{entry.name}")


def message_classes(*files: descriptor_pb2.FileDescriptorProto) -> dict[str, Any]:
    """full message name -> its class, for the files given (in dependency order), in their own pool."""
    pool = descriptor_pool.DescriptorPool()
    for fd in files:
        pool.Add(fd)
    return {
        f"{fd.package}.{msg.name}": message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{fd.package}.{msg.name}")
        )
        for fd in files
        for msg in fd.message_type
    }
