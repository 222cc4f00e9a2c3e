"""The wire protocol: frozen message types and pure encode/decode functions.

See ``PROTOCOL.md`` beside this file. No I/O here: a channel carries the
bytes, this module only turns messages into bytes and back. Decoding
untrusted bytes raises :class:`~roamsync.schema.ProtocolError` and nothing
else.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from roamsync.schema import ProtocolError

VERSION = 1
MAX_ITEMS = 10_000
MAX_ID = 64
MAX_FRAME = 16 * 1024 * 1024
MAX_VERSION = 2**63 - 1  # what encode can write back (a JSON 64-bit integer)

HELLO, CHANGES, ACK, ERROR, PENDING = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Hello:
    """First message each way: who is speaking and which protocol versions it speaks."""

    device: str
    role: str
    company: str = ""
    versions: tuple[int, ...] = (VERSION,)
    store: str = ""  # the sender's store id: a new one means "I was repaired, resend all"


@dataclass(frozen=True)
class Changes:
    """A batch of records' CRDT states, up to ``upto`` in the sender's change feed."""

    upto: int
    items: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Ack:
    """The receiver has durably stored everything up to ``upto``."""

    upto: int


@dataclass(frozen=True)
class Error:
    message: str


@dataclass(frozen=True)
class Pending:
    """How many records the sender still has to send; 0 means "you have all I have"."""

    count: int


Message = Hello | Changes | Ack | Error | Pending


def negotiate(mine: tuple[int, ...], theirs: tuple[int, ...]) -> int:
    """The highest version both sides speak."""
    common = set(mine) & set(theirs)
    if not common:
        raise ProtocolError(f"no common protocol version: we speak {mine}, they {theirs}")
    return max(common)


def encode(msg: Message) -> bytes:
    """Encode one message; refuses (``ValueError``) what ``decode`` would refuse."""
    frame = _encode(msg)
    if len(frame) > MAX_FRAME:
        raise ValueError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}: send smaller batches")
    return frame


def _encode(msg: Message) -> bytes:
    if isinstance(msg, Hello):
        if not msg.versions:
            raise ValueError("a hello must offer at least one protocol version")
        body = {"device": msg.device, "role": msg.role, "company": msg.company}
        body["store"] = msg.store
        return bytes([HELLO]) + orjson.dumps({**body, "versions": list(msg.versions)})
    if isinstance(msg, Changes):
        if len(msg.items) > MAX_ITEMS:
            raise ValueError(f"{len(msg.items)} items in one frame exceeds {MAX_ITEMS}")
        out = bytearray([CHANGES])
        _put_uint(out, msg.upto)
        _put_uint(out, len(msg.items))
        for record_id, update in msg.items:
            if not (0 < len(record_id) <= MAX_ID and record_id.isascii()):
                raise ValueError(f"record id {record_id!r} is not 1-{MAX_ID} ASCII characters")
            out.append(len(record_id))  # MAX_ID < 128: a one-byte varuint
            out += record_id.encode()
            _put_bytes(out, update)
        return bytes(out)
    if isinstance(msg, Ack | Pending):
        out = bytearray([ACK if isinstance(msg, Ack) else PENDING])
        _put_uint(out, msg.upto if isinstance(msg, Ack) else msg.count)
        return bytes(out)
    return bytes([ERROR]) + msg.message.encode()


def decode(frame: bytes) -> Message:
    """Decode one frame; any malformed input raises ``ProtocolError``."""
    if not frame:
        raise ProtocolError("empty frame")
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
    kind = frame[0]
    if kind == CHANGES:
        return _decode_changes(bytes(frame))
    body = bytes(frame[1:])
    if kind == HELLO:
        return _decode_hello(body)
    if kind in (ACK, PENDING):
        value, end = _uint(body, 0)
        if end != len(body):
            raise ProtocolError(f"{len(body) - end} trailing bytes")
        return Ack(value) if kind == ACK else Pending(value)
    if kind == ERROR:
        try:
            return Error(body.decode())
        except UnicodeDecodeError as exc:
            raise ProtocolError("error message is not UTF-8") from exc
    raise ProtocolError(f"unknown message type {kind}")


def _decode_hello(body: bytes) -> Hello:
    try:
        obj = orjson.loads(body)
        versions = tuple(int(v) for v in obj["versions"])
        fields = (obj["device"], obj["role"], obj.get("company", ""), obj.get("store", ""))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"malformed hello: {exc}") from exc
    if not all(isinstance(f, str) for f in fields) or not versions:
        raise ProtocolError("malformed hello: device, role, company and store must be strings")
    if not all(0 <= v <= MAX_VERSION for v in versions):
        raise ProtocolError("malformed hello: a protocol version out of range")
    return Hello(fields[0], fields[1], fields[2], versions, fields[3])


def _decode_changes(frame: bytes) -> Changes:
    """The hot path of a sync (100k records arrive in a few hundred frames): it slices
    ``frame`` directly, and reads one-byte lengths (every record id) without a call."""
    end = len(frame)
    upto, pos = _uint(frame, 1)
    count, pos = _uint(frame, pos)
    if count > MAX_ITEMS:
        raise ProtocolError(f"{count} items in one frame exceeds {MAX_ITEMS}")
    items = []
    try:
        for _ in range(count):
            n = frame[pos]
            pos += 1
            if n & 0x80:
                n, pos = _uint(frame, pos - 1)
            if not 0 < n <= MAX_ID:
                raise ProtocolError("record id length out of range")
            stop = pos + n
            if stop > end:
                raise ProtocolError("truncated frame")
            record_id = frame[pos:stop].decode("ascii")
            n = frame[stop]
            pos = stop + 1
            if n & 0x80:
                n, pos = _uint(frame, stop)
            stop = pos + n
            if stop > end:
                raise ProtocolError("truncated frame")
            items.append((record_id, frame[pos:stop]))
            pos = stop
    except IndexError as exc:  # a length byte past the end
        raise ProtocolError("truncated frame") from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError("record id is not ASCII") from exc
    if pos != end:
        raise ProtocolError(f"{end - pos} trailing bytes")
    return Changes(upto, tuple(items))


def _uint(data: bytes, pos: int) -> tuple[int, int]:
    """The varuint at ``pos`` and the position after it."""
    value = shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise ProtocolError("truncated frame")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("varuint too long")


def _put_uint(out: bytearray, n: int) -> None:
    if n < 0:
        raise ValueError(f"cannot encode negative integer {n}")
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _put_bytes(out: bytearray, data: bytes) -> None:
    _put_uint(out, len(data))
    out += data
