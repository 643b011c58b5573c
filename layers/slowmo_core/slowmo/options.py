"""Job options, validated once for every front end (CLI, API, upload convention).

Light module: zip Lambdas import it, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from typing import Any

from slowmo.errors import InputError
from slowmo.timeline.speedcurve import CurveSpec, parse_spec
from slowmo.timeline.timing import (
    MAX_FACTOR,
    MAX_FACTOR_DENOMINATOR,
    MIN_SLOWDOWN,
    factor_json,
    parse_slowdown,
)

ENGINES = ("flow", "blend", "film")
AUDIO_MODES = ("stretch", "drop", "original")
DEFAULT_AUDIO = "stretch"
# auto: h264 for 8-bit input, HEVC Main10 for deeper input. prores (422 HQ, 4444 for 4:4:4 input) and dnxhr
# (HQ 8-bit, HQX 10-bit, 444) are editor intermediates written to a QuickTime .mov (slowmo.media.fidelity).
CODECS = ("auto", "h264", "h265", "prores", "dnxhr")
EDITOR_CODECS = ("prores", "dnxhr")
# Interlaced input: field (each field becomes a frame: twice the real moments, the default), frame (one
# frame per interlaced frame), off (the frames are used as they are, combing included).
DEINTERLACE_MODES = ("field", "frame", "off")
DEFAULT_DEINTERLACE = "field"
# Engines that take 16-bit frames (uint16); the others get 8 bits per channel.
HIGH_BIT_DEPTH_ENGINES = ("flow", "blend")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
MAX_OUTPUT_FPS = 1000
FALLBACK_MODES = ("auto", "off")  # see fallback.py


def parse_factor(value: Any) -> int | Fraction:
    """The slowdown: a number from 1 to 64, whole (8) or not (2.5, '5/2'): how many times longer the output
    lasts than the source. Whole numbers come back as int (so their jobs are what they always were), others
    as a Fraction (slowmo.timeline.timing.Factor, printed as written). '8x', 0, 0.5 and 1000 are refused.
    1 (real speed) is a valid value here; JobOptions refuses it when nothing else changes (see there)."""
    text = str(value).strip()
    try:
        return parse_slowdown(value, low=MIN_SLOWDOWN, high=MAX_FACTOR)
    except ValueError as exc:
        if str(exc) == "too fine":
            raise InputError(f"factor {text} is finer than 1/{MAX_FACTOR_DENOMINATOR}: give at most 3 decimal places, "
                             "or a fraction such as 7/3") from None
        raise InputError(f"factor must be a number from {MIN_SLOWDOWN} to {MAX_FACTOR}, such as 8, 2.5 or 5/2, "
                         f"got {text!r}") from None


def parse_fps(value: Any) -> Fraction:
    """A positive output frame rate: 240, 59.94, '30000/1001'."""
    text = str(value).strip()
    try:
        fps = Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"fps must be a positive number like 240 or 30000/1001, got {text!r}") from None
    if isinstance(value, bool) or not 0 < fps <= MAX_OUTPUT_FPS:
        raise InputError(f"fps must be above 0 and at most {MAX_OUTPUT_FPS}, got {text}")
    return fps


def working_depth(bit_depth: int, engine: str) -> int:
    """Bits per channel frames are decoded, synthesised and encoded at: 16 for input deeper than 8 bits
    (when the engine takes it), else today's fast 8-bit path."""
    return 16 if bit_depth > 8 and engine in HIGH_BIT_DEPTH_ENGINES else 8


def output_codec(codec: str, depth: int) -> str:
    """The encoder for a requested codec: auto is HEVC (Main10) for 16-bit work, H.264 otherwise.
    prores and dnxhr are themselves (slowmo.media.encode chooses their profile from depth and chroma)."""
    if codec == "auto":
        return "h265" if depth > 8 else "h264"
    return codec


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class JobOptions:
    factor: int | Fraction = 8  # the slowdown: int when whole, else a Fraction (slowmo.timeline.timing.Factor)
    fps: Fraction | None = None  # None: play at the source frame rate (K times longer)
    engine: str = "flow"
    model: str | None = None  # FILM SavedModel path or variant
    audio: str = DEFAULT_AUDIO
    compare: bool = False
    codec: str = "auto"
    crf: int = 18
    preset: str = "medium"
    fallback: str = "auto"  # auto: publish the least-bad result where the engine is unsure (fallback.py)
    trim: str | None = None  # "START:END" source seconds, either side may be empty
    ranges: tuple[str, ...] = ()  # "START:END" or "START:END@K"; a list, or one comma-separated string
    ease: float = 0.0  # seconds of source time to ramp into and out of each range
    deinterlace: str = DEFAULT_DEINTERLACE  # what happens to interlaced input: DEINTERLACE_MODES
    square_pixels: bool = False  # resample anamorphic input to square pixels (else its pixel aspect is kept)

    def __post_init__(self):
        spec = parse_spec(self.trim, self.ranges, self.ease)  # normalised: same syntax, ranges sorted
        object.__setattr__(self, "trim", str(spec.trim) if spec.trim else None)
        object.__setattr__(self, "ranges", tuple(str(r) for r in spec.ranges))
        object.__setattr__(self, "ease", spec.ease)
        object.__setattr__(self, "factor", parse_factor(self.factor))
        if self.fps is not None:
            object.__setattr__(self, "fps", parse_fps(self.fps))
        _choice("engine", self.engine, ENGINES)
        _choice("audio", self.audio, AUDIO_MODES)
        _choice("codec", self.codec, CODECS)
        _choice("preset", self.preset, PRESETS)
        _choice("fallback", self.fallback, FALLBACK_MODES)
        _choice("deinterlace", self.deinterlace, DEINTERLACE_MODES)
        self._check_real_speed(spec)
        if not isinstance(self.square_pixels, bool):
            raise InputError(f"square_pixels must be true or false, got {self.square_pixels!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise InputError(f"crf must be a whole number from 0 to 51, got {self.crf!r}")
        if not isinstance(self.compare, bool):
            raise InputError(f"compare must be true or false, got {self.compare!r}")
        if self.model is not None and not isinstance(self.model, str):
            raise InputError("model must be a string")

    def _check_real_speed(self, spec: CurveSpec) -> None:
        """-k 1 keeps real speed: it needs --fps (a frame rate conversion) or a range with its own @K;
        alone (or with a trim) it would only copy the frames. A range without @K takes -k, so at -k 1 it
        would slow nothing."""
        if self.factor != 1:
            return
        plain = [r for r in spec.ranges if r.factor is None]
        if plain:
            raise InputError(f"range {plain[0]} slows nothing at factor 1 (it takes the factor, -k); give it its own "
                             f"slowdown, e.g. {plain[0]}@4")
        if self.fps is None and not spec.ranges:
            raise InputError("factor 1 keeps real speed and the source's frame rate, so there is nothing to do: give an "
                             "output rate to convert to (e.g. -k 1 --fps 60), a slowdown above 1 (e.g. -k 2.5), or a "
                             "range to slow (e.g. -k 1 --range 2:3@4)")

    @classmethod
    def from_dict(cls, data: dict[str, Any], defaults: dict[str, Any] | None = None) -> JobOptions:
        """Options from a JSON-like mapping; unknown fields are refused, not ignored."""
        if not isinstance(data, dict):
            raise InputError("job options must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        merged = {**(defaults or {}), **data}
        return cls(**merged)

    @property
    def curve_spec(self) -> CurveSpec:
        return parse_spec(self.trim, self.ranges, self.ease)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["factor"] = factor_json(self.factor)  # 8 as before; 2.5, or "7/3" where no short decimal says it
        d["fps"] = None if self.fps is None else f"{self.fps.numerator}/{self.fps.denominator}"
        # left out when unused, so a plain job's options (and so its cloud job id) are what they were
        d["ranges"] = list(self.ranges) or None
        d["ease"] = self.ease or None
        if self.deinterlace == DEFAULT_DEINTERLACE:
            d.pop("deinterlace")
        if not self.square_pixels:
            d.pop("square_pixels")
        return d


def add_curve_options(parser) -> None:
    """--trim, --range (repeatable) and --ease on an argparse parser: `slowmo run`, `estimate` and
    `cloud submit` take them with the same syntax (docs/creative.md)."""
    parser.add_argument("--trim", metavar="START:END", help="process only this part of the source (seconds)")
    parser.add_argument("--range", dest="ranges", metavar="START:END[@K]", action="append",
                        default=[], help="slow only this part of the source, by K (default: --factor); repeatable")
    parser.add_argument("--ease", metavar="SECONDS", default=None, help="ramp the speed in and out of each range")
