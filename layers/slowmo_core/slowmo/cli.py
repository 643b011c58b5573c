"""`slowmo`: the command line. Thin: parse arguments, call the core, print one line on error."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import json
import logging
import os
import signal
import sys
import threading
from fractions import Fraction
from pathlib import Path

from slowmo import __version__
from slowmo.errors import ArgumentError, InputError, SlowmoError
from slowmo.local.destination import OutputClash, OutputExists
from slowmo.local.progress import progress_factory
from slowmo.options import (
    AUDIO_MODES,
    CODECS,
    DEFAULT_AUDIO,
    DEFAULT_DEINTERLACE,
    DEINTERLACE_MODES,
    EDITOR_CODECS,
    ENGINES,
    FALLBACK_MODES,
    PRESETS,
    JobOptions,
    add_curve_options,
)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")

RUN_EXAMPLES = """examples:
  slowmo run clip.mp4 -o slow.mp4 --factor 8                 8x slower, plays at the source rate
  slowmo run clip.mp4 -o smooth.mp4 --factor 4 --fps 60      4x slower, shown at 60 fps
  slowmo run clip.mp4 -o frames/ --factor 4                  lossless PNG sequence
  slowmo run clip.mp4 -o slow.mp4 --factor 16 --compare side.mp4 --audio original
  slowmo run clip.mp4 -o slow.mp4 --factor 8 --engine film --model ~/film_net/Style/saved_model
  slowmo run long.mp4 -o slow.mp4 --factor 8 --jobs 4 --resume  continue an interrupted run on 4 workers
  slowmo run clip.mp4 -o ramp.mp4 --factor 4 --range 1:2              only 1-2 s slowed 4x: 4 s in, 7 s out
  slowmo run clip.mp4 -o ramp.mp4 --factor 8 --range 2.0:3.5 --range 7:8@4 --ease 0.25
  slowmo run clip.mp4 -o part.mp4 --factor 8 --trim 12.5:15           only 12.5-15 s of the source
  slowmo run tape.mxf -o cut.mov --factor 4 --codec prores      ProRes 422 HQ (4444 for 4:4:4) for an editor
  slowmo run 50i.mts -o slow.mp4 --factor 4                     interlaced: each field becomes a frame (50 fps)

speed ramps (times are source seconds):
  --trim START:END     process only [START, END); either side may be empty (5: or :10)
  --range START:END@K  slow [START, END) by K (2..64; without @K, --factor); the rest plays at normal
                       speed; repeat for several ranges, which must not overlap
  --ease SECONDS       ramp the speed in and out over the first and last SECONDS of each range
                       (smoothstep on the slowdown rate: no jump in speed); at most half the shortest range
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other slowmo error
        raise ArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="slowmo", description="Super slow motion by synthesising frames between the real ones.")
    parser.add_argument("--version", action="version", version=f"slowmo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="make a slow-motion video", epilog=RUN_EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("input", help="source video")
    run.add_argument("-o", "--output", required=True, help="output .mp4, or a directory for PNG frames")
    run.add_argument("-k", "--factor", required=True,
                     help="slowdown, 1 to 64, e.g. 8 or 2.5 (1 needs --fps or a --range that slows something)")
    run.add_argument("--engine", choices=ENGINES, default="flow", help="interpolation engine (default: flow)")
    run.add_argument("--model", help="FILM SavedModel directory (engine film)")
    run.add_argument("--fps", help="output frame rate; the result is K times longer whatever the rate "
                     "(default: the source's, raised for variable-rate input if a real frame would be dropped)")
    run.add_argument("--audio", choices=AUDIO_MODES, default=DEFAULT_AUDIO,
                     help=f"stretch (pitch kept), drop, or original speed (default: {DEFAULT_AUDIO})")
    run.add_argument("--compare", metavar="PATH", help="also write a side-by-side comparison video")
    run.add_argument("--codec", choices=CODECS, default="auto",
                     help="auto: H.264 for 8-bit input, HEVC Main10 for deeper input; prores (422 HQ, 4444 for 4:4:4) "
                          "and dnxhr (HQ/HQX/444) write an editor's .mov at the source's depth and chroma")
    run.add_argument("--deinterlace", choices=DEINTERLACE_MODES, default=DEFAULT_DEINTERLACE,
                     help="interlaced input: field (each field becomes a frame, twice the moments; default), "
                          "frame (one frame per interlaced frame) or off")
    run.add_argument("--square-pixels", action="store_true",
                     help="resample anamorphic input to square pixels (default: keep its pixel aspect, SAR)")
    run.add_argument("--crf", type=int, default=18, help="quality, 0 (lossless) to 51 (default: 18)")
    run.add_argument("--preset", choices=PRESETS, default="medium", help="encoder speed/size trade-off")
    run.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                     help="worker processes (default: the usable cores, as many as the free memory holds)")
    run.add_argument("-y", "--overwrite", action="store_true",
                     help="replace outputs that exist (without it an existing output is refused, as ffmpeg does)")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run of the same input, output and options from its saved chunks")
    run.add_argument("--fresh", action="store_true",
                     help="discard the saved chunks of an interrupted run and start again (without it they are kept)")
    run.add_argument("--chunk-frames", type=_positive_int, metavar="N",
                     help="source frames per chunk (default: about 1/32 of the video, 9 to 121)")
    run.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                     help="no plan line and no progress (on a terminal a bar, otherwise a line every few seconds); "
                          "warnings and errors are still shown")
    run.add_argument("--fallback", choices=FALLBACK_MODES, default="auto",
                     help="auto: where the engine is unsure of a pair, publish the least-bad result (default: auto)")

    preview = commands.add_parser("preview", help="render the hardest part of a clip side by side; print per-pair risk")
    preview.add_argument("input", help="source video")
    preview.add_argument("-o", "--output", required=True, help="preview .mp4 (original | slowmo)")
    preview.add_argument("-k", "--factor", default="8", help="as for run (default: 8)")
    preview.add_argument("--engine", choices=ENGINES, default="flow")
    preview.add_argument("--model", help="FILM SavedModel directory (engine film)")
    preview.add_argument("--fallback", choices=FALLBACK_MODES, default="auto")
    preview.add_argument("--crf", type=int, default=18)
    preview.add_argument("--preset", choices=PRESETS, default="veryfast")
    preview.add_argument("--pairs", type=int, default=12, help="source frame pairs rendered (default: 12)")
    preview.add_argument("--json", action="store_true", help="print the report as JSON")
    preview.add_argument("-y", "--overwrite", action="store_true", help="replace the preview if it exists")
    add_curve_options(run)

    estimate = commands.add_parser(
        "estimate", help="what a run would make and take, from a calibration on this input; nothing is written",
        epilog="examples:\n  slowmo estimate clip.mp4 --factor 8\n  slowmo estimate clip.mp4 --factor 8 --range 2:3.5 "
               "--ease 0.25 --cloud --json\n", formatter_class=argparse.RawDescriptionHelpFormatter)
    estimate.add_argument("input", help="source video")
    estimate.add_argument("-o", "--output", help="as for run: a folder (PNG frames) is sized as PNG, a file as video")
    estimate.add_argument("-k", "--factor", required=True, help="as for run: 1 to 64, e.g. 8 or 2.5")
    estimate.add_argument("--engine", choices=ENGINES, default="flow")
    estimate.add_argument("--model", help="FILM SavedModel directory (engine film)")
    estimate.add_argument("--fps", help="output frame rate")
    estimate.add_argument("--audio", choices=AUDIO_MODES, default=DEFAULT_AUDIO)
    estimate.add_argument("--compare", metavar="PATH", help="count a side-by-side comparison too")
    estimate.add_argument("--codec", choices=CODECS, default="h264")
    estimate.add_argument("--crf", type=int, default=18)
    estimate.add_argument("--preset", choices=PRESETS, default="medium")
    estimate.add_argument("--deinterlace", choices=DEINTERLACE_MODES, default=DEFAULT_DEINTERLACE,
                          help=argparse.SUPPRESS)  # a run's command line is reused
    estimate.add_argument("--square-pixels", action="store_true", help=argparse.SUPPRESS)
    estimate.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                          help="worker processes the run would use (default: as run chooses)")
    estimate.add_argument("--chunk-frames", type=_positive_int, metavar="N", help=argparse.SUPPRESS)
    for flags in (("-q", "--quiet", "--no-progress"), ("-y", "--overwrite"), ("--resume",), ("--fresh",)):
        estimate.add_argument(*flags, action="store_true", help=argparse.SUPPRESS)  # a run's command line is reused
    add_curve_options(estimate)
    estimate.add_argument("--cloud", action="store_true", help="also the cloud's GPU-seconds, wall clock and cost")
    estimate.add_argument("--json", action="store_true", help="print JSON instead of text")

    probe = commands.add_parser("probe", help="describe a video as JSON")
    probe.add_argument("input")

    evaluate = commands.add_parser("eval", help="quality meter: drop frames, synthesise them back, score them")
    evaluate.add_argument("input")
    evaluate.add_argument("-k", "--factor", default="2", help="keep every K-th frame (default: 2)")
    evaluate.add_argument("--engine", choices=ENGINES, default="flow")
    evaluate.add_argument("--model", help="FILM SavedModel directory (engine film)")
    evaluate.add_argument("--max-frames", type=int, default=240, help="frames of the source to use (default: 240)")

    sample = commands.add_parser("sample", help="render a synthetic clip with motion, a cut and audio (for trying slowmo)")
    sample.add_argument("output", help="where to write the .mp4")
    sample.add_argument("--seconds", type=float, default=3.0)
    sample.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default: 640x360)")
    sample.add_argument("--fps", type=int, default=24)
    sample.add_argument("-y", "--overwrite", action="store_true", help="replace the file if it exists")

    try:
        from slowmo.cloud.cli import add_cloud_commands
    except ImportError:  # the cloud client needs boto3: `pip install 'slowmo-film[cloud]'`
        add_cloud_commands = None
    if add_cloud_commands is not None:
        add_cloud_commands(commands)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """`kill` (SIGTERM) stops a run like Ctrl-C: finished chunks are kept for --resume."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _readable_input(path: str) -> Path:
    """The input, after opening it: a missing, unreadable or non-file input is one line before any work."""
    input_path = Path(path)
    try:
        with open(input_path, "rb"):
            pass
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a video file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return input_path


def _check_output_names(args) -> None:
    """What the output's name alone says: a usage error (exit 2) before the input is even read."""
    from slowmo.local.pipeline import is_sequence_output

    if not is_sequence_output(args.output) and Path(args.output).suffix.lower() not in VIDEO_SUFFIXES:
        raise ArgumentError(f"-o {args.output}: must end in .mp4, .mov, .m4v or .mkv, or be a folder (end it with /) "
                            "for PNG frames")
    if args.compare is not None and Path(args.compare).suffix.lower() not in VIDEO_SUFFIXES:
        raise ArgumentError(f"--compare {args.compare}: must end in .mp4, .mov, .m4v or .mkv")
    codec = getattr(args, "codec", "auto")
    if codec in EDITOR_CODECS:  # a QuickTime (or Matroska) file: MP4 cannot hold ProRes or DNxHR
        from slowmo.media.fidelity import check_output_container

        for flag, path in (("-o", None if is_sequence_output(args.output) else args.output), ("--compare", args.compare)):
            if path is not None:
                try:
                    check_output_container(codec, path)
                except InputError as exc:
                    raise ArgumentError(f"{flag} {exc}") from None


def cmd_run(args) -> int:
    from slowmo.local.pipeline import run_job

    options = _job_options(args)
    _check_output_names(args)
    if args.chunk_frames is not None and args.chunk_frames < 2:
        raise ArgumentError("--chunk-frames must be at least 2")
    if args.resume and args.fresh:
        raise ArgumentError("--resume and --fresh contradict each other; give one")
    input_path = _readable_input(args.input)
    with _sigterm_as_ctrl_c():
        report = run_job(input_path, args.output, options, compare_path=args.compare,
                         progress=progress_factory(quiet=args.quiet), jobs=args.jobs, resume=args.resume,
                         chunk_frames=args.chunk_frames, overwrite=args.overwrite, discard_saved=args.fresh,
                         announce=lambda lines: _announce(lines, everything=not args.quiet))
    # Each warning once: here at the end (a failed run prints only its one error line), or as it happens
    # through the log with --verbose.
    if not args.verbose:
        for warning in report.warnings:
            print(f"slowmo: warning: {warning}", file=sys.stderr)
    print(json.dumps(report.to_dict()))
    return 0


def _announce(lines: list[str], *, everything: bool) -> None:
    """The run's plan and what becomes of saved work, before any work starts, on a terminal or not (stderr:
    stdout is the report). Warnings and a resume's reuse always; the plan line unless -q."""
    for line in lines:
        if everything or line.startswith(("warning:", "resuming:")):
            print(f"slowmo: {line}", file=sys.stderr, flush=True)


def _whole_factor(factor, command: str) -> None:
    """preview and eval slot frames at t = j/K between real ones: a fractional K has no such slots."""
    if Fraction(factor).denominator != 1 or factor < 2:
        raise ArgumentError(f"-k {factor}: {command} takes a whole factor from 2 to 64 (`slowmo run` takes {factor})")


def cmd_preview(args) -> int:
    from slowmo.foresight.preview import make_preview

    options = _options(factor=args.factor, engine=args.engine, model=args.model, crf=args.crf, preset=args.preset,
                       fallback=args.fallback)
    _whole_factor(options.factor, "preview")
    if args.pairs < 1:
        raise ArgumentError(f"--pairs must be at least 1, got {args.pairs}")
    if Path(args.output).suffix.lower() not in VIDEO_SUFFIXES:
        raise ArgumentError(f"-o {args.output}: preview must be a video file (.mp4, .mov, .m4v or .mkv)")
    report = make_preview(_readable_input(args.input), args.output, options, pairs=args.pairs,
                          overwrite=args.overwrite)
    print(json.dumps(report.to_dict()) if args.json else "\n".join(report.lines()))
    return 0


def _options(**values) -> JobOptions:
    """JobOptions from the command line: a value it refuses (-k 0, --crf 60, --range 2:1) is a usage error."""
    try:
        return JobOptions(**values)
    except InputError as exc:
        raise ArgumentError(str(exc)) from None


def _job_options(args) -> JobOptions:
    return _options(factor=args.factor, fps=args.fps, engine=args.engine, model=args.model, audio=args.audio,
                      compare=args.compare is not None, codec=args.codec, crf=args.crf, preset=args.preset,
                      fallback=getattr(args, "fallback", "auto"), trim=args.trim, ranges=tuple(args.ranges), ease=args.ease,
                      deinterlace=getattr(args, "deinterlace", DEFAULT_DEINTERLACE),
                      square_pixels=getattr(args, "square_pixels", False))


def cmd_estimate(args) -> int:
    from slowmo.foresight.estimate import estimate_job
    from slowmo.local.pipeline import is_sequence_output

    options = _job_options(args)
    if args.output is not None:
        _check_output_names(args)
    sequence = args.output is not None and is_sequence_output(args.output)
    report = estimate_job(_readable_input(args.input), options, cloud=args.cloud, jobs=args.jobs or _run_jobs,
                          sequence=sequence, chunk_frames=args.chunk_frames)
    print(json.dumps(report.to_dict()) if args.json else report.human())
    return 0


def _run_jobs(info, options, plan) -> int:
    """The workers `run` would start by default for this plan (the estimate models them)."""
    from slowmo.local.parallel import default_jobs
    from slowmo.local.pipeline import local_chunk_frames

    frames = plan.last_frame - plan.first_frame + 1
    chunks = max(1, -(-(frames - 1) // (local_chunk_frames(info.frame_count) - 1)))
    return min(default_jobs(info.width, info.height, options.engine, output_frames=plan.output_count), chunks)


def cmd_probe(args) -> int:
    from slowmo.media.probe import probe

    print(json.dumps(probe(_readable_input(args.input)).to_dict(), indent=2))
    return 0


def cmd_eval(args) -> int:
    from slowmo.foresight.evaluate import evaluate

    options = _options(factor=args.factor, engine=args.engine, model=args.model)
    _whole_factor(options.factor, "eval")
    if args.max_frames < 3:
        raise ArgumentError(f"--max-frames must be at least 3, got {args.max_frames}")
    print(json.dumps(evaluate(str(_readable_input(args.input)), options.factor, options.engine, model=args.model, max_frames=args.max_frames)))
    return 0


def cmd_sample(args) -> int:
    from slowmo.foresight.sample import make_clip

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ArgumentError(f"--size must look like 640x360, got {args.size!r}") from None
    if not (16 <= width <= 7680 and 16 <= height <= 4320 and 0 < args.seconds <= 600 and 1 <= args.fps <= 240):
        raise ArgumentError("sample size, duration or fps out of range")
    if Path(args.output).suffix.lower() not in VIDEO_SUFFIXES:
        raise ArgumentError(f"{args.output}: the sample must end in .mp4, .mov, .m4v or .mkv")
    frames = max(2, round(args.seconds * args.fps))
    if not args.overwrite and os.path.lexists(args.output):
        raise OutputExists(f"{args.output} already exists; add -y (--overwrite) to replace it")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    make_clip(args.output, width=width, height=height, fps=args.fps, frames=frames, cut_at=frames * 2 // 3)
    print(json.dumps({"output": args.output, "frames": frames, "fps": args.fps, "size": f"{width}x{height}"}))
    return 0


class _StderrLines(logging.Handler):
    """Each log record once, as `slowmo: warning: ...` (the shape of `slowmo: error: ...`), on the
    stderr of the moment (resolved per record, so a replaced sys.stderr is honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"slowmo: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _setup_logging() -> None:
    """Log lines only with --verbose (INFO); otherwise the CLI prints the run's warnings once at the end."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrLines) for h in root.handlers):
        root.addHandler(_StderrLines())
    root.setLevel(logging.ERROR)


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)command parser argv reaches, and the arguments after its name."""
    rest = list(argv)
    while True:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            return parser, rest
        position = next((i for i, token in enumerate(rest) if token in subparsers[0].choices), None)
        if position is None:
            return parser, rest
        parser, rest = subparsers[0].choices[rest[position]], rest[position + 1:]


def _unknown_option(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The first option the command does not know, with a suggestion: argparse reports a missing required
    option first (`--factr 4` said "required: -k/--factor"), which hides the real mistake."""
    command, rest = _command_parser(parser, argv)
    known = list(command._option_string_actions)
    for token in rest:
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or _is_number(token):
            continue
        name = token.split("=", 1)[0]
        if name in known:
            continue
        if name.startswith("--") and command.allow_abbrev and sum(k.startswith(name) for k in known) == 1:
            continue  # an unambiguous abbreviation, as argparse takes it
        if not name.startswith("--") and len(name) > 2 and name[:2] in known:
            continue  # -k8: a short option with its value attached
        close = difflib.get_close_matches(name, [k for k in known if k.startswith("--")], n=1)
        return f"unknown option {name}" + (f" (did you mean {close[0]}?)" if close else "")
    return None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _file_system_error(exc: OSError) -> str:
    """One line for a file-system fault that got past the specific checks."""
    from slowmo.local.destination import describe

    where = f"{os.fsdecode(exc.filename)}: " if exc.filename else ""
    return f"{where}{describe(exc) if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS) else (exc.strerror or exc)}"


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done; 1 the run failed (input, disk, engine, an output in the way); 2 the command line is
    wrong (an unknown option, a missing or impossible value, an output that is the input); 130 interrupted."""
    _setup_logging()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        unknown = _unknown_option(parser, argv)
        if unknown is not None:
            raise ArgumentError(unknown)
        args = parser.parse_args(argv)
        if args.verbose:
            logging.getLogger().setLevel(logging.INFO)
        handler = {"run": cmd_run, "estimate": cmd_estimate, "probe": cmd_probe, "eval": cmd_eval, "sample": cmd_sample,
                   "preview": cmd_preview}.get(args.command) or args.handler
        return handler(args)
    except (ArgumentError, OutputClash) as exc:
        print(f"slowmo: error: {exc}", file=sys.stderr)
        return 2
    except SlowmoError as exc:
        print(f"slowmo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"slowmo: {exc or 'interrupted; no output was published'}", file=sys.stderr)
        return 130
    except MemoryError:
        print("slowmo: error: out of memory; try a smaller input or --engine blend", file=sys.stderr)
        return 1
    except OSError as exc:  # a file-system fault no check foresaw: still one line, never a traceback
        print(f"slowmo: error: {_file_system_error(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # python -m slowmo.cli: run the importable module, so that its error classes are the ones other modules
    # raise (cloud/cli.py's usage errors exit 2)
    from slowmo.cli import main as module_main

    sys.exit(module_main())
