"""The whole job on one machine: probe, decode, synthesise, encode, audio, comparison.

Output is written under a temporary name next to the destination and renamed into place only when
complete, so an interrupted or failed run never leaves something that looks finished.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from .audio import mux_audio
from .compare import SideBySide
from .decode import read_frames
from .encode import PngSequenceWriter, VideoWriter
from .engines import create_engine
from .errors import InputError
from .limits import Limits
from .options import JobOptions
from .probe import VideoInfo, probe
from .synthesis import SynthesisReport, synthesize
from .timing import make_timeline

log = logging.getLogger(__name__)

ProgressFactory = Callable[[int], object]  # total -> object with update(n) and close()


@dataclass
class JobReport:
    input: str
    output: str
    compare: str | None
    factor: int
    engine: str
    source_fps: str
    output_fps: str
    source_frames: int
    output_frames: int
    output_duration_s: float
    audio: str
    cuts: list[int] = field(default_factory=list)
    repeated_pairs: int = 0
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def is_sequence_output(output: str | os.PathLike) -> bool:
    """A directory (existing, or named with a trailing slash) means a PNG sequence."""
    text = str(output)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def check_input(info: VideoInfo, options: JobOptions, limits: Limits) -> list[str]:
    """Refuse what cannot be processed; return warnings for what is processed with a caveat."""
    warnings = []
    limits.check_file_size(os.path.getsize(info.path), Path(info.path).name)
    if info.frame_count < 2:
        raise InputError(f"{Path(info.path).name}: has only {info.frame_count} frame; need at least 2 to interpolate")
    output_frames = (info.frame_count - 1) * options.factor + 1
    limits.check_video(info.width, info.height, info.duration, output_frames, Path(info.path).name)
    if info.is_vfr:
        warnings.append(f"variable frame rate: normalised to a constant {float(info.fps):.3f} fps")
    if info.bit_depth > 8 or info.color.is_hdr:
        warnings.append(f"{info.pix_fmt} input is processed in 8 bits per channel; colour tags are kept")
    return warnings


def _temp_path(final: Path, suffix: str) -> Path:
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.partial{suffix}")


def run_job(
    input_path: str | os.PathLike,
    output: str | os.PathLike,
    options: JobOptions,
    *,
    compare_path: str | os.PathLike | None = None,
    limits: Limits | None = None,
    progress: ProgressFactory | None = None,
    engine_options: dict | None = None,
) -> JobReport:
    started = time.monotonic()
    limits = limits or Limits.from_env()
    info = probe(input_path)
    warnings = check_input(info, options, limits)
    for message in warnings:
        log.warning(message)

    engine_opts = dict(engine_options or {})
    if options.engine == "film" and options.model:
        engine_opts.setdefault("model_path", options.model)
    engine = create_engine(options.engine, **engine_opts)

    source_fps = info.fps
    output_fps = options.fps or source_fps
    expected = make_timeline(info.frame_count, source_fps, options.factor, output_fps)
    sequence = is_sequence_output(output)
    final = Path(output)
    if not sequence and final.suffix.lower() not in (".mp4", ".mov", ".m4v", ".mkv"):
        raise InputError(f"{final.name}: output must end in .mp4, .mov, .m4v or .mkv, or be a directory for PNG frames")
    if compare_path is not None and Path(compare_path).suffix.lower() not in (".mp4", ".mov", ".m4v", ".mkv"):
        raise InputError(f"{Path(compare_path).name}: comparison output must be a video file (.mp4)")
    (final if sequence else final.parent).mkdir(parents=True, exist_ok=True)

    keep_audio = info.has_audio and options.audio != "drop" and not sequence
    report = SynthesisReport()
    encode_opts = {"codec": options.codec, "crf": options.crf, "preset": options.preset, "color": info.color}
    temp_dir = Path(tempfile.mkdtemp(prefix=".slowmo-", dir=final if sequence else final.parent))
    try:
        video_tmp = temp_dir / f"video{final.suffix if not sequence else ''}"
        compare_tmp = temp_dir / f"compare{Path(compare_path).suffix}" if compare_path else None
        bar = progress(expected.output_frames) if progress else None
        with ExitStack() as stack:
            if sequence:
                writer = stack.enter_context(PngSequenceWriter(temp_dir / "frames", info.width, info.height))
            else:
                writer = stack.enter_context(VideoWriter(video_tmp, info.width, info.height, output_fps, **encode_opts))
            side = compare_writer = None
            if compare_tmp is not None:
                side = SideBySide(info.width, info.height, "original (frames repeated)", f"slowmo {engine.name} x{options.factor}")
                compare_writer = stack.enter_context(
                    VideoWriter(compare_tmp, side.width, side.height, output_fps, **encode_opts))
            frames = read_frames(info, fps=info.fps if info.is_vfr else None)
            current_source = None
            for index, frame in enumerate(synthesize(frames, options.factor, engine, report)):
                if index % options.factor == 0:
                    current_source = frame
                writer.write(frame)
                if compare_writer is not None:
                    compare_writer.write(side.compose(current_source, frame))
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        if report.source_frames < 2:
            raise InputError(f"{Path(info.path).name}: only {report.source_frames} frame could be decoded; need at least 2")
        if not info.is_vfr and report.source_frames < info.frame_count:
            raise InputError(f"{Path(info.path).name}: is truncated or corrupt: decoded {report.source_frames} of {info.frame_count} frames")

        timeline = make_timeline(report.source_frames, source_fps, options.factor, output_fps)
        duration = timeline.output_duration
        if sequence:
            for png in sorted((temp_dir / "frames").iterdir()):
                os.replace(png, final / png.name)
        else:
            _publish(video_tmp, final, info, keep_audio, options.audio, timeline.slowdown, duration)
        if compare_tmp is not None:
            _publish(compare_tmp, Path(compare_path), info, keep_audio, options.audio, timeline.slowdown, duration)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)

    return JobReport(
        input=str(input_path),
        output=str(output),
        compare=str(compare_path) if compare_path else None,
        factor=options.factor,
        engine=engine.name,
        source_fps=_rate(source_fps),
        output_fps=_rate(output_fps),
        source_frames=report.source_frames,
        output_frames=report.output_frames,
        output_duration_s=round(duration, 6),
        audio=options.audio if keep_audio else "none",
        cuts=report.cuts,
        repeated_pairs=report.repeated_pairs,
        warnings=warnings,
        elapsed_s=round(time.monotonic() - started, 3),
    )


def _publish(video_tmp: Path, final: Path, info: VideoInfo, keep_audio: bool, mode: str, slowdown: Fraction, duration: float):
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = _temp_path(final, final.suffix)
    try:
        if keep_audio:
            mux_audio(str(video_tmp), info.path, str(staged), mode=mode, slowdown=slowdown, duration=duration)
        else:
            shutil.move(str(video_tmp), staged)
        os.replace(staged, final)
    finally:
        staged.unlink(missing_ok=True)


def _rate(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"
