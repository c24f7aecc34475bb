"""Byte-level surgery on RPM packages, for tests that need a package rpmbuild will not make."""

from __future__ import annotations

import struct

LEAD = 96
_INTRO = struct.Struct(">4s4xII")
_ENTRY = struct.Struct(">iiii")
_ALIGN = {3: 2, 4: 4, 5: 8}
#: RPMTAG_HEADERSIGNATURES: the signature header's region tag.
_SIG_REGION = 62


def header_span(data: bytes, start: int) -> tuple[int, int, int]:
    """(index start, store start, end) of the header structure at ``start``."""
    _magic, il, dl = _INTRO.unpack_from(data, start)
    index = start + 16
    store = index + 16 * il
    return index, store, store + dl


def main_header_start(data: bytes) -> int:
    sig_end = header_span(data, LEAD)[2]
    return (sig_end + 7) // 8 * 8


def payload_start(data: bytes) -> int:
    return header_span(data, main_header_start(data))[2]


def rewrite_signature(
    data: bytes,
    *,
    drop: set[int] = frozenset(),  # type: ignore[assignment]
    replace: dict[int, bytes] | None = None,
    add: dict[int, tuple[int, int, bytes]] | None = None,
) -> bytes:
    """The package with signature tags dropped, their raw values replaced (same type and count),
    or added (``tag: (type, count, raw value)``)."""
    replace = replace or {}
    index, store, end = header_span(data, LEAD)
    entries = [_ENTRY.unpack_from(data, index + 16 * i) for i in range((store - index) // 16)]
    # Value extents: from each offset to the next one in the store.
    offsets = sorted({e[2] for e in entries} | {end - store})
    new_store = bytearray()
    new_entries = []
    for tag, typ, off, count in entries:
        if tag in drop:
            continue
        nxt = offsets[offsets.index(off) + 1]
        value = replace.get(tag, data[store + off : store + nxt])
        align = _ALIGN.get(typ, 1)
        new_store += b"\0" * (-len(new_store) % align)
        new_entries.append(_ENTRY.pack(tag, typ, len(new_store), count))
        new_store += value
    for tag, (typ, count, value) in (add or {}).items():
        align = _ALIGN.get(typ, 1)
        new_store += b"\0" * (-len(new_store) % align)
        new_entries.append(_ENTRY.pack(tag, typ, len(new_store), count))
        new_store += value
    if entries and entries[0][0] == _SIG_REGION and entries[0][0] not in drop:
        # Re-lay the region trailer over the new index, as rpmsign's headerReload does.
        trailer_at = _ENTRY.unpack(new_entries[0])[2]
        new_store[trailer_at : trailer_at + 16] = _ENTRY.pack(_SIG_REGION, 7, -16 * len(new_entries), 16)
    sig = _INTRO.pack(b"\x8e\xad\xe8\x01", len(new_entries), len(new_store)) + b"".join(new_entries) + new_store
    sig += b"\0" * (-len(sig) % 8)
    return data[:LEAD] + sig + data[main_header_start(data) :]


def _sig_value_offset(data: bytes, tag: int) -> tuple[int, int, int]:
    """(absolute offset, type, count) of a signature tag's value."""
    index, store, _end = header_span(data, LEAD)
    for i in range((store - index) // 16):
        t, typ, off, count = _ENTRY.unpack_from(data, index + 16 * i)
        if t == tag:
            return store + off, typ, count
    raise KeyError(tag)


def _refresh_header_digests(data: bytes) -> bytes:
    """Recompute the signature's SHA1/SHA256 of the main header and MD5 of header + payload, as rpmsign would."""
    import hashlib

    start = main_header_start(data)
    end = payload_start(data)
    out = bytearray(data)
    for tag, algo in ((269, "sha1"), (273, "sha256")):
        try:
            pos, _typ, _count = _sig_value_offset(data, tag)
        except KeyError:
            continue
        digest = hashlib.new(algo, data[start:end]).hexdigest().encode()
        out[pos : pos + len(digest)] = digest
    try:
        pos, _typ, _count = _sig_value_offset(data, 1004)
    except KeyError:
        return bytes(out)
    out[pos : pos + 16] = hashlib.md5(data[start:], usedforsecurity=False).digest()
    return bytes(out)


def rename_main_tag(data: bytes, tag: int, new_tag: int) -> bytes:
    """The package with a main header tag renumbered (so readers no longer find it), digests refreshed."""
    index, store, _end = header_span(data, main_header_start(data))
    for i in range((store - index) // 16):
        entry = data[index + 16 * i : index + 16 * i + 16]
        if _ENTRY.unpack(entry)[0] == tag:
            return patch_main_header(data, entry, _ENTRY.pack(new_tag, *_ENTRY.unpack(entry)[1:]))
    raise KeyError(tag)


def patch_main_header(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace bytes inside the main header (same length) and keep its digests consistent."""
    assert len(old) == len(new)
    start = main_header_start(data)
    end = payload_start(data)
    pos = data.index(old, start, end)
    patched = data[:pos] + new + data[pos + len(old) :]
    return _refresh_header_digests(patched)


def replace_payload(data: bytes, payload: bytes) -> bytes:
    """The package with another payload, SIGTAG_SIZE adjusted (the payload digest is left stale)."""
    start = main_header_start(data)
    out = bytearray(data[: payload_start(data)] + payload)
    pos, _typ, _count = _sig_value_offset(data, 1000)
    struct.pack_into(">I", out, pos, len(out) - start)
    return bytes(out)
