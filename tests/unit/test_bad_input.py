"""Bad and awkward input through the CLI: one clear line and a non-zero exit, or correct processing."""

import json
import shutil

import pytest

from slowmo.foresight.sample import make_clip
from slowmo.media.probe import probe


def test_truncated_without_index(run_cli, clip, tmp_path, assert_one_line_error):
    data = clip.read_bytes()
    truncated = tmp_path / "cut short.mp4"
    truncated.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end and now missing
    assert_one_line_error(run_cli("run", truncated, "-o", tmp_path / "o.mp4", "-k", "2"), "truncated or incomplete")
    assert not (tmp_path / "o.mp4").exists()


def test_truncated_mid_stream_publishes_nothing(run_cli, tmp_path, assert_one_line_error):
    source = make_clip(tmp_path / "src.mp4", frames=48, audio=False)  # +faststart: index first, data after
    data = source.read_bytes()
    truncated = tmp_path / "partial.mp4"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    assert_one_line_error(run_cli("run", truncated, "-o", tmp_path / "o.mp4", "-k", "2", "--engine", "blend"),
                          "truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial.mp4", "src.mp4"]


def test_corrupt_mid_stream(run_cli, clip, tmp_path, assert_one_line_error):
    data = bytearray(clip.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 4000):
        data[i] = (data[i] * 7 + 13) % 256
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(data))
    before = corrupt.read_bytes()
    assert_one_line_error(run_cli("run", corrupt, "-o", tmp_path / "o.mp4", "-k", "2", "--engine", "blend"), "corrupt")
    assert corrupt.read_bytes() == before and not (tmp_path / "o.mp4").exists()


def test_one_frame_is_refused_two_frames_work(run_cli, tmp_path, assert_one_line_error):
    one = make_clip(tmp_path / "one.mp4", frames=1, audio=False)
    assert_one_line_error(run_cli("run", one, "-o", tmp_path / "o1.mp4", "-k", "4"), "need at least 2")
    two = make_clip(tmp_path / "two.mp4", frames=2, audio=False)
    code, out, err = run_cli("run", two, "-o", tmp_path / "o2.mp4", "-k", "4", "--engine", "blend")
    assert code == 0, err
    assert json.loads(out)["output_frames"] == 5 and probe(tmp_path / "o2.mp4").frame_count == 5


def test_audio_only_and_still_image(run_cli, ffmpeg_media, tmp_path, assert_one_line_error):
    audio = ffmpeg_media("only-audio.m4a", ["-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac"])
    assert_one_line_error(run_cli("run", audio, "-o", tmp_path / "o.mp4", "-k", "2"), "audio only")
    still = ffmpeg_media("picture.jpg", ["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"])
    assert_one_line_error(run_cli("run", still, "-o", tmp_path / "o.mp4", "-k", "2"), "still image")


@pytest.mark.parametrize("name", ["my clip (1).mp4", "clip ünïcødé 🎬.mp4", "a;b&c|d$(e)`f`'g\".mp4", "-starts-with-dash.mp4"])
def test_awkward_file_names(run_cli, clip, tmp_path, name):
    source = tmp_path / name
    shutil.copy(clip, source)
    out = tmp_path / f"out {name}"
    code, _, err = run_cli("run", source, "-o", out, "-k", "2", "--engine", "blend")
    assert code == 0, err
    assert probe(out).frame_count == 47


def test_oversized_input_against_configured_limits(run_cli, clip, tmp_path, monkeypatch, assert_one_line_error):
    monkeypatch.setenv("SLOWMO_MAX_DURATION_S", "0.5")
    assert_one_line_error(run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2"), "duration limit")
    monkeypatch.setenv("SLOWMO_MAX_DURATION_S", "100")
    monkeypatch.setenv("SLOWMO_MAX_FILE_BYTES", "1000")
    assert_one_line_error(run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2"), "limit")


def test_ten_bit_hdr_is_processed_with_tags_kept(run_cli, ffmpeg_media, tmp_path):
    hdr = ffmpeg_media("hdr-in.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=0.4",
        "-vf", "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc",
        "-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le"])
    code, out, err = run_cli("run", hdr, "-o", tmp_path / "hdr.mp4", "-k", "2", "--engine", "blend")
    assert code == 0, err
    assert "warning" not in err  # flow and blend keep 16 bits per channel: nothing to warn about
    info = probe(tmp_path / "hdr.mp4")
    assert info.codec == "hevc" and info.bit_depth == 10  # HEVC Main10 by default for 10-bit input
    assert (info.color.primaries, info.color.transfer, info.color.space) == ("bt2020", "smpte2084", "bt2020nc")
    assert info.frame_count == 19


def test_an_edit_list_that_ends_early_presents_its_frames(run_cli, index_longer_than_stream, tmp_path):
    # The index holds 24 frames; the edit list presents the first 18, so players show 18 and the decoder
    # delivers 18, cleanly. That is a valid file (a tail trimmed in an editor), never "truncated": the
    # probe counts the frames the decoder delivers (issue 10), and they are all processed.
    assert probe(index_longer_than_stream).frame_count == 18
    out = tmp_path / "o.mp4"
    code, output, err = run_cli("run", index_longer_than_stream, "-o", out, "-k", "2", "--engine", "blend")
    assert code == 0, err
    assert json.loads(output)["source_frames"] == 18 and probe(out).frame_count == (18 - 1) * 2 + 1
