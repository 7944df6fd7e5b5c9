"""SageMaker's ``aialgs.data.Record`` protobuf messages, for the protobuf package.

The schema is ``record.proto`` of the SageMaker Python SDK (aws/sagemaker-python-sdk,
``src/sagemaker/amazon/record.proto``), the format AWS's built-in algorithms read::

    syntax = "proto2";
    package aialgs.data;
    message Float32Tensor { repeated float  values = 1 [packed = true];
                            repeated uint64 keys   = 2 [packed = true];
                            repeated uint64 shape  = 3 [packed = true]; }
    message Float64Tensor { repeated double values = 1 [packed = true]; keys = 2; shape = 3 }
    message Int32Tensor   { repeated int32  values = 1 [packed = true]; keys = 2; shape = 3 }
    message Bytes         { repeated bytes value = 1; optional string content_type = 2; }
    message Value  { oneof value { Float32Tensor float32_tensor = 2;
                                   Float64Tensor float64_tensor = 3;
                                   Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    message Record { map<string, Value> features = 1; map<string, Value> label = 2;
                     optional string uid = 3; optional string metadata = 4;
                     optional string configuration = 5; }

It is declared here as a ``FileDescriptorProto`` rather than as ``protoc`` output: generated
modules are tied to the protobuf runtime that generated them, a descriptor works with any.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "aialgs.data"


def _file_descriptor() -> Any:
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="aialgs/data/record.proto", package=_PACKAGE, syntax="proto2"
    )

    def field(message: Any, name: str, number: int, kind: int, **kwargs: Any) -> Any:
        return message.field.add(name=name, number=number, type=kind, **kwargs)

    repeated, optional = f.LABEL_REPEATED, f.LABEL_OPTIONAL
    for tensor, value_type in (
        ("Float32Tensor", f.TYPE_FLOAT),
        ("Float64Tensor", f.TYPE_DOUBLE),
        ("Int32Tensor", f.TYPE_INT32),
    ):
        message = file.message_type.add(name=tensor)
        for name, number, kind in (
            ("values", 1, value_type),
            ("keys", 2, f.TYPE_UINT64),
            ("shape", 3, f.TYPE_UINT64),
        ):
            field(message, name, number, kind, label=repeated).options.packed = True
    raw = file.message_type.add(name="Bytes")
    field(raw, "value", 1, f.TYPE_BYTES, label=repeated)
    field(raw, "content_type", 2, f.TYPE_STRING, label=optional)
    value = file.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for name, number, type_name in (
        ("float32_tensor", 2, "Float32Tensor"),
        ("float64_tensor", 3, "Float64Tensor"),
        ("int32_tensor", 7, "Int32Tensor"),
        ("bytes", 9, "Bytes"),
    ):
        field(
            value,
            name,
            number,
            f.TYPE_MESSAGE,
            label=optional,
            type_name=f".{_PACKAGE}.{type_name}",
            oneof_index=0,
        )
    record = file.message_type.add(name="Record")
    for name, number, entry in (("features", 1, "FeaturesEntry"), ("label", 2, "LabelEntry")):
        map_entry = record.nested_type.add(name=entry)
        map_entry.options.map_entry = True
        field(map_entry, "key", 1, f.TYPE_STRING, label=optional)
        field(
            map_entry, "value", 2, f.TYPE_MESSAGE, label=optional, type_name=f".{_PACKAGE}.Value"
        )
        field(
            record,
            name,
            number,
            f.TYPE_MESSAGE,
            label=repeated,
            type_name=f".{_PACKAGE}.Record.{entry}",
        )
    for name, number in (("uid", 3), ("metadata", 4), ("configuration", 5)):
        field(record, name, number, f.TYPE_STRING, label=optional)
    return file


@functools.cache
def record_class() -> Any:
    """The ``aialgs.data.Record`` message class (built once)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Record"))
