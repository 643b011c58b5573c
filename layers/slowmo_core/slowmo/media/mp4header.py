"""Read an MP4/MOV file's index (its ``moov`` box) without ffmpeg and without reading the media.

What admission needs before anything is spent on a job: the video's coded size, rotation, frame
count, duration, bit depth, and whether there is audio. ISO BMFF (ISO/IEC 14496-12) keeps all of it
in ``moov``: ``tkhd`` (display matrix), ``mdhd`` (timescale, duration), ``hdlr`` (track kind),
``stsd`` (codec, coded size, ``avcC``/``hvcC`` with the bit depth) and ``stsz`` (one entry per
sample: the frame count). A file is read through ``read(offset, length)``, so an S3 object costs a
few ranged GETs: the top-level box headers, then ``moov`` (a few MB even for an hour of video).

Returns None for anything it cannot read with certainty - not ISO BMFF (MKV, WebM, AVI), a
fragmented MP4 (frames in ``moof`` boxes), no video track, a missing index (a cut-short upload) -
and the caller then waits for the full probe. Standard library only: the zip Lambdas import it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MAX_MOOV_BYTES = 64 << 20  # an index larger than this is not read here
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


@dataclass(frozen=True)
class Mp4Header:
    width: int  # as displayed (after the track's rotation)
    height: int
    frames: int
    duration_s: float
    codec: str
    bit_depth: int
    rotation: int
    has_audio: bool

    @property
    def fps(self) -> float:
        return self.frames / self.duration_s


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _find(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def find_moov(read: Callable[[int, int], bytes], size: int) -> bytes | None:
    """The moov box's bytes, found by walking the top-level box headers (None if absent or huge)."""
    pos = 0
    first = True
    while pos + 8 <= size:
        head = read(pos, 16)
        if len(head) < 8:
            return None
        box_size, kind = struct.unpack_from(">I4s", head)
        if first and kind not in (b"ftyp", b"moov", b"free", b"skip", b"wide", b"mdat", b"pnot"):
            return None  # not ISO BMFF
        first = False
        if box_size == 1:
            if len(head) < 16:
                return None
            box_size = struct.unpack_from(">Q", head, 8)[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8:
            return None
        if kind == b"moov":
            if box_size > MAX_MOOV_BYTES or pos + box_size > size:
                return None
            return read(pos, box_size)
        pos += box_size
    return None


def _rotation(tkhd: bytes) -> int:
    version = tkhd[0]
    matrix_at = 4 + (32 if version == 1 else 20) + 8 + 8  # header fields, reserved, layer..volume
    if len(tkhd) < matrix_at + 36:
        return 0
    a, b = struct.unpack_from(">ii", tkhd, matrix_at)
    return round(math.degrees(math.atan2(b, a))) % 360


def _bit_depth(kind: bytes, config: bytes) -> int:
    """Luma bit depth from an hvcC or avcC decoder configuration record (8 when it does not say)."""
    if kind == b"hvcC" and len(config) > 17:
        return (config[17] & 0x07) + 8  # bitDepthLumaMinus8
    if kind != b"avcC" or len(config) < 7:
        return 8
    profile = config[1]
    try:  # skip the parameter sets; High profiles then carry chroma format and bit depths
        pos = 6
        for _ in range(config[5] & 0x1F):
            pos += 2 + struct.unpack_from(">H", config, pos)[0]
        count, pos = config[pos], pos + 1
        for _ in range(count):
            pos += 2 + struct.unpack_from(">H", config, pos)[0]
        if profile in (100, 110, 122, 144) and pos + 2 <= len(config):
            return (config[pos + 1] & 0x07) + 8  # bit_depth_luma_minus8
    except (IndexError, struct.error):
        pass
    return 10 if profile == 110 else 8  # High 10 without the extension


def _track(data: bytes, start: int, end: int) -> dict | None:
    mdia = _find(data, start, end, b"mdia")
    tkhd = _find(data, start, end, b"tkhd")
    if mdia is None:
        return None
    hdlr, mdhd = _find(data, *mdia, b"hdlr"), _find(data, *mdia, b"mdhd")
    if hdlr is None or mdhd is None:
        return None
    handler = data[hdlr[0] + 8 : hdlr[0] + 12]
    track = {"handler": handler}
    if handler != b"vide":
        return track
    version = data[mdhd[0]]
    if version == 1:
        timescale, duration = struct.unpack_from(">IQ", data, mdhd[0] + 20)
    else:
        timescale, duration = struct.unpack_from(">II", data, mdhd[0] + 12)
    minf = _find(data, *mdia, b"minf")
    stbl = minf and _find(data, *minf, b"stbl")
    stsd = stbl and _find(data, *stbl, b"stsd")
    stsz = stbl and _find(data, *stbl, b"stsz")
    if not (stsd and stsz and timescale):
        return None
    entry = stsd[0] + 8  # version/flags, entry count
    if entry + 8 + 78 > stsd[1]:
        return None
    codec = data[entry + 4 : entry + 8]
    width, height = struct.unpack_from(">HH", data, entry + 8 + 24)
    entry_end = entry + struct.unpack_from(">I", data, entry)[0]
    depth = 8
    for kind, s, e in _boxes(data, entry + 8 + 78, min(entry_end, stsd[1])):
        if kind in (b"avcC", b"hvcC"):
            depth = _bit_depth(kind, data[s:e])
    frames = struct.unpack_from(">I", data, stsz[0] + 8)[0]
    track.update(width=width, height=height, frames=frames, duration_s=duration / timescale,
                 codec=codec.decode("latin-1").strip(), bit_depth=depth,
                 rotation=_rotation(data[tkhd[0] : tkhd[1]]) if tkhd else 0)
    return track


def parse_moov(moov: bytes) -> Mp4Header | None:
    """The video facts in a moov box (its bytes, header included), or None if uncertain."""
    body = _find(moov, 0, len(moov), b"moov")
    if body is None:
        return None
    tracks = [t for k, s, e in _boxes(moov, *body) if k == b"trak" and (t := _track(moov, s, e)) is not None]
    video = next((t for t in tracks if t["handler"] == b"vide"), None)
    if video is None or video["frames"] < 1 or video["duration_s"] <= 0 or not video["width"]:
        return None  # fragmented (samples in moof), or no video
    width, height = video["width"], video["height"]
    if video["rotation"] in (90, 270):
        width, height = height, width
    return Mp4Header(width, height, video["frames"], video["duration_s"], video["codec"], video["bit_depth"],
                     video["rotation"], any(t["handler"] == b"soun" for t in tracks))


def read_header(read: Callable[[int, int], bytes], size: int) -> Mp4Header | None:
    """Mp4Header of the file ``read(offset, length)`` gives bytes of, or None (see the module docstring)."""
    moov = find_moov(read, size)
    return parse_moov(moov) if moov else None


def read_file_header(path) -> Mp4Header | None:
    """read_header for a local file."""
    import os

    with open(path, "rb") as fh:
        def read(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        return read_header(read, os.fstat(fh.fileno()).st_size)
