"""Subtitle tracks (issue 21, case 6): text tracks retimed through the plan's time map and kept; bitmap
tracks reported. Inputs made with the bundled ffmpeg; outputs read back by extracting their subtitle track."""

from __future__ import annotations

from fractions import Fraction

import pytest

from slowmo.media.audio import mux_audio
from slowmo.media.fidelity import fidelity_warnings
from slowmo.media.probe import probe
from slowmo.media.subtitles import mux_subtitles, read_ass, retime_subtitles
from slowmo.options import JobOptions
from slowmo.timeline.plan import plan_job

SRT = "1\n00:00:00,500 --> 00:00:01,200\nHello\n\n2\n00:00:01,500 --> 00:00:01,800\nWorld\n"


@pytest.fixture(scope="module")
def srt_file(media_dir):
    path = media_dir / "cues.srt"
    path.write_text(SRT)
    return path


@pytest.fixture(scope="module", params=[("subs.mp4", "mov_text"), ("subs.mkv", "ass"), ("subs-srt.mkv", "srt")])
def subtitled(request, ffmpeg_media, srt_file):
    name, codec = request.param
    return ffmpeg_media(name, [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
        "-i", str(srt_file), "-map", "0:v", "-map", "1:a", "-map", "2:s",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", codec, "-t", "2"]), codec


def _video_only(ffmpeg_media, name="plain-slow.mp4", duration=8):
    return ffmpeg_media(name, ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=25:duration={duration}",
                               "-c:v", "libx264", "-pix_fmt", "yuv420p"])


def _times(path):
    _, cues = read_ass(str(path), 0)
    return [(round(c.start, 2), round(c.end, 2), c.rest.rsplit(",", 1)[-1]) for c in cues]


def test_text_subtitles_are_retimed_by_the_factor_and_kept(subtitled, ffmpeg_media, tmp_path):
    src, codec = subtitled
    info = probe(src)
    assert info.subtitles == (("subrip" if codec == "srt" else codec),)
    plan = plan_job(info, JobOptions(factor=4))
    files = retime_subtitles(info, plan, tmp_path)
    out = tmp_path / ("out" + src.suffix)
    mux_audio(str(_video_only(ffmpeg_media)), str(src), str(out), mode="stretch", slowdown=Fraction(4),
              duration=8.0, subtitles=files)
    result = probe(out)
    assert result.subtitles == (("ass",) if out.suffix == ".mkv" else ("mov_text",))
    assert _times(out) == [(2.0, 4.8, "Hello"), (6.0, 7.2, "World")]
    assert not any("subtitle" in w for w in fidelity_warnings(info, subtitles_kept=True))
    assert any("text subtitle track(s) (" in w for w in fidelity_warnings(info))  # when an executor does not keep them


def test_speed_ramp_and_trim_retime_each_cue(subtitled, ffmpeg_media, tmp_path):
    src, _ = subtitled
    info = probe(src)
    options = JobOptions(factor=4, trim="0.2:1.9", ranges=("0.4:1.0@8",), ease=0.1)
    plan = plan_job(info, options)
    [ass] = retime_subtitles(info, plan, tmp_path)
    out = tmp_path / "ramp.mp4"
    mux_subtitles(str(_video_only(ffmpeg_media, "ramp-video.mp4", 12)), str(out), [ass])
    m = plan.time_map
    expected = [(round(m.output_time(0.5), 2), round(m.output_time(1.2), 2), "Hello"),
                (round(m.output_time(1.5), 2), round(m.output_time(1.8), 2), "World")]
    got = _times(out)
    assert [g[2] for g in got] == ["Hello", "World"]
    for (a0, a1, _), (b0, b1, _) in zip(got, expected, strict=True):
        assert abs(a0 - b0) <= 0.011 and abs(a1 - b1) <= 0.011
    # the ramp stretched the first cue (inside the x8 range) more than the second (at the base x4)
    assert (got[0][1] - got[0][0]) / 0.7 > (got[1][1] - got[1][0]) / 0.3 * 1.2


def test_trim_drops_and_cuts_cues_outside_the_window(subtitled, ffmpeg_media, tmp_path):
    src, _ = subtitled
    info = probe(src)
    plan = plan_job(info, JobOptions(factor=2, trim="1.0:1.6"))
    [ass] = retime_subtitles(info, plan, tmp_path)
    out = tmp_path / "trim.mkv"
    mux_subtitles(str(_video_only(ffmpeg_media, "trim-video.mkv", 2)), str(out), [ass])
    got = _times(out)
    # Hello (0.5-1.2) is cut to 1.0-1.2 -> 0.0-0.4; World (1.5-1.8) is cut to 1.5-1.6 -> 1.0-1.2
    assert got == [(0.0, 0.4, "Hello"), (1.0, 1.2, "World")]


def test_bitmap_subtitles_are_reported_as_dropped():
    facts = {"path": "/in/disc.mkv", "subtitles": ["hdmv_pgs_subtitle", "subrip"]}
    lines = fidelity_warnings(facts, subtitles_kept=True)
    assert lines == ["disc.mkv: 1 bitmap subtitle track(s) (hdmv_pgs_subtitle) dropped: picture subtitles cannot be retimed"]
