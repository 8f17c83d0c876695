"""Requests that fail to decode become INVALID_ARGUMENT naming the field.

grpc decodes a request before any handler runs and answers UNKNOWN when that
fails (for example a string field holding invalid UTF-8 from a raw client).
The interceptor swaps in these decoders so the failure reaches the handler as
an `Undecodable` value, and the client gets a proper INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from google.protobuf import empty_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from services.common.errors import InvalidArgument

_LENGTH_DELIMITED = 2


class Undecodable:
    """Stands in for a request message that could not be decoded."""

    def __init__(self, data: bytes, error: Exception) -> None:
        self.data = data
        self.error = error


def safe_deserializer(
    deserialize: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, ValueError, RuntimeError) as exc:
            return Undecodable(data, exc)

    return decode


def bad_utf8_field(descriptor: Descriptor, data: bytes, path: str = "") -> str | None:
    """The path of the first string field whose bytes are not UTF-8, if any."""
    holder = empty_pb2.Empty()
    try:
        holder.ParseFromString(data)  # every field lands in the unknown set, unchecked
    except DecodeError:
        return None
    seen: Counter[int] = Counter()
    unknown = UnknownFieldSet(holder)
    for position in range(len(unknown)):
        field = unknown[position]
        known = descriptor.fields_by_number.get(field.field_number)
        if known is None or field.wire_type != _LENGTH_DELIMITED:
            continue
        index = seen[field.field_number]
        seen[field.field_number] += 1
        name = f"{path}{known.name}"
        is_map = known.message_type is not None and known.message_type.GetOptions().map_entry
        if known.is_repeated and not is_map:
            name += f"[{index}]"
        if known.type == FieldDescriptor.TYPE_STRING:
            try:
                bytes(field.data).decode("utf-8")
            except UnicodeDecodeError:
                return name
        elif known.message_type is not None:
            found = bad_utf8_field(known.message_type, bytes(field.data), name + ".")
            if found:
                return found
    return None


def invalid_request(
    request: Undecodable, descriptor: Descriptor | None, path: str = ""
) -> InvalidArgument:
    """INVALID_ARGUMENT naming the bad field; `path` prefixes it ("requests[2].") in a stream."""
    whole = path.rstrip(".") or "request"
    if descriptor is None:
        return InvalidArgument(whole, "is not a valid message")
    field = bad_utf8_field(descriptor, request.data, path)
    if field:
        return InvalidArgument(field, "must be valid UTF-8")
    return InvalidArgument(whole, f"is not a valid {descriptor.full_name}")
