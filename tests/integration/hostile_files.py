"""Builders of hostile upload files: decompression bombs and oversized lines, written streaming.

A bomb is real, valid compressed data: ``block`` (about 1 MiB of valid CSV rows) is deflated once
with a full flush, which makes the compressed block byte-aligned and free of back-references, so
repeating it N times is a valid deflate stream of N blocks. Building a 2 GiB bomb therefore costs
one compression of 1 MiB, a CRC over the expansion (well under a second) and a few MB of disk:
no multi-GB buffer, no minutes of compression. Python's gzip and zipfile read them back exactly.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

BLOCK_BYTES = 4 << 20
CATALOG_HEADER = b"product_id,title,category,price\n"
ORDERS_HEADER = b"order_id,product_id,quantity,price,created_at\n"


def _repeat_to(unit: bytes, target: int) -> bytes:
    return unit * max(1, target // len(unit))


def catalog_rows_block(target: int = BLOCK_BYTES, distinct: int = 4) -> bytes:
    """About ``target`` bytes of valid generic catalog rows: ``distinct`` products, repeated
    (repetition is what makes a bomb: ~400x with this layout)."""
    unit = b"".join(
        b"p%d,Stoneware Mug %d,mugs,%d.50\n" % (i, i, 5 + i % 40) for i in range(distinct)
    )
    return _repeat_to(unit, target)


def order_rows_block(target: int = BLOCK_BYTES, distinct: int = 4) -> bytes:
    """About ``target`` bytes of valid generic order lines (``distinct`` two-line orders, repeated)."""
    unit = b"".join(
        b"o%d,p%d,1,12.50,2024-06-01T10:00:00+00:00\n" % (i // 2, i % 50)
        for i in range(2 * distinct)
    )
    return _repeat_to(unit, target)


def _flushed_block(block: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return deflater.compress(block) + deflater.flush(zlib.Z_FULL_FLUSH)


def _final_block() -> bytes:
    return zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


def _write_deflate(fh, header: bytes, block: bytes, repeats: int) -> tuple[int, int, int]:
    """Writes header + block*repeats deflated; returns (crc32, uncompressed size, compressed size)."""
    crc = zlib.crc32(header)
    head = _flushed_block(header)
    fh.write(head)
    written = len(head)
    compressed = _flushed_block(block)
    for _ in range(repeats):
        fh.write(compressed)
        crc = zlib.crc32(block, crc)
    tail = _final_block()
    fh.write(tail)
    written += len(compressed) * repeats + len(tail)
    return crc, len(header) + len(block) * repeats, written


def gzip_bomb(
    path: Path, expands_to: int, header: bytes = CATALOG_HEADER, block: bytes | None = None
) -> Path:
    """A valid one-member gzip file whose content is ``header`` then valid rows up to ``expands_to`` bytes."""
    block = block or catalog_rows_block()
    repeats = max(1, (expands_to - len(header)) // len(block))
    with open(path, "wb") as fh:
        fh.write(
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        )  # magic, deflate, no flags, mtime 0, xfl, os
        crc, size, _ = _write_deflate(fh, header, block, repeats)
        fh.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return path


def zip_bomb(
    path: Path,
    expands_to: int,
    member: str = "orders.csv",
    header: bytes = ORDERS_HEADER,
    block: bytes | None = None,
) -> Path:
    """A valid single-member zip (deflate, no zip64: keep ``expands_to`` under 4 GiB)."""
    block = block or order_rows_block()
    repeats = max(1, (expands_to - len(header)) // len(block))
    if len(header) + len(block) * repeats >= 1 << 32:
        raise ValueError("zip bombs here stay under 4 GiB (no zip64 records)")
    name = member.encode()
    with open(path, "w+b") as fh:
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, 0, 0, len(name), 0)
        fh.write(local + name)
        crc, size, csize = _write_deflate(fh, header, block, repeats)
        central_at = fh.tell()
        fh.seek(14)
        fh.write(
            struct.pack("<III", crc & 0xFFFFFFFF, csize, size)
        )  # sizes known now: patch the local header
        fh.seek(central_at)
        central = (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc & 0xFFFFFFFF,
                csize,
                size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )
        fh.write(central)
        fh.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), central_at, 0))
    return path


def long_line_gzip(path: Path, line_bytes: int, header: bytes = CATALOG_HEADER) -> Path:
    """A gzip catalog whose second line is one title field of ``line_bytes`` bytes (written streaming)."""
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header)
        fh.write(b'p1,"')
        chunk = b"A" * BLOCK_BYTES
        left = line_bytes
        while left > 0:
            fh.write(chunk[:left])
            left -= len(chunk)
        fh.write(b'",mugs,12.50\n')
    return path


def long_line_plain(path: Path, line_bytes: int, header: bytes = CATALOG_HEADER) -> Path:
    """The same without compression: a file of about ``line_bytes`` bytes on one line."""
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(b'p1,"')
        chunk = b"A" * BLOCK_BYTES
        left = line_bytes
        while left > 0:
            fh.write(chunk[:left])
            left -= len(chunk)
        fh.write(b'",mugs,12.50\n')
    return path


def wide_header(columns: int) -> bytes:
    """A catalog with a valid generic header widened to ``columns`` columns, and one valid row."""
    names = [b"product_id", b"title", b"category", b"price"] + [
        b"c%d" % i for i in range(4, columns)
    ]
    return b",".join(names) + b"\n" + b"p1,Mug,mugs,12.50" + b"," * (columns - 4) + b"\n"
