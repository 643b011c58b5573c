"""A whole job through the real containers: the real state machine definition, run by moto's interpreter as the
end-to-end tests run it, but every Lambda task goes to its function's own image over the runtime interface
emulator (lambda_containers.py), under its memory, /tmp and timeout, with its AWS calls going to a moto server
that shares this process's state. Its outputs must be frame for frame those of the same job run in-process.

What stays a stand-in: the SageMaker endpoint (the real model-server handler in this process, behind SageMaker's
queue and notification format; tests/cloud_fixtures.FakeAsyncEndpoint) and moto itself."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

import pytest
from cloud_fixtures import running_stack
from conftest import bridge_address, free_port
from lambda_containers import ContainerLambdas

FACTOR = 4
FRAMES = 12
CUT_AT = 7


@pytest.fixture(scope="module")
def job_clip(tmp_path_factory):
    from slowmo.foresight.sample import make_clip

    return make_clip(tmp_path_factory.mktemp("job") / "clip.mp4", width=96, height=64, fps=12, frames=FRAMES,
                     audio=True, cut_at=CUT_AT)


def frame_hashes(path) -> list[str]:
    """Each decoded frame's MD5 (ffmpeg's framemd5), video stream only."""
    from slowmo.media.ffmpeg import run_ffmpeg

    out = path.with_suffix(".framemd5")
    run_ffmpeg(["-loglevel", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-y", str(out)])
    return [line.rsplit(",", 1)[1].strip() for line in out.read_text().splitlines() if not line.startswith("#")]


def run_job(clip, tmp, *, in_containers: bool) -> dict:
    """Upload the clip to a fresh stack and run the job; returns what it published and how it ran."""
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.media.probe import probe

    with ExitStack() as stack, pytest.MonkeyPatch.context() as monkeypatch:
        cloud = running_stack(monkeypatch, stack, chunk_frames=4, default_factor=FACTOR)
        containers = None
        if in_containers:
            from moto.server import ThreadedMotoServer

            address = bridge_address()
            port = free_port(address)
            server = ThreadedMotoServer(ip_address=address, port=port, verbose=False)
            server.start()
            stack.callback(server.stop)
            environment = {**cloud.env, "AWS_ENDPOINT_URL": f"http://{address}:{port}",
                           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": cloud.region, "AWS_REGION": cloud.region,
                           **{k: v for k, v in os.environ.items() if k.startswith("POWERTOOLS_")}}
            containers = stack.enter_context(ContainerLambdas(environment))
            for logical in cloud.function_arns:
                cloud.lambdas.overrides[logical] = containers.handler(logical)
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")), timeout=900)
        assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"), cloud.lambdas.errors)
        outputs = json.loads(desc["output"])["outputs"]
        result = {"calls": [name for name, _ in cloud.lambdas.calls],
                  "invocations": list(containers.invocations) if containers else []}
        for kind, uri in outputs.items():
            bucket, key = parse_s3_uri(uri)
            local = tmp / f"{'containers' if in_containers else 'in-process'}-{kind}.mp4"
            cloud.client("s3").download_file(bucket, key, str(local))
            result[kind] = {"frames": frame_hashes(local), "audio": probe(local).has_audio}
        return result


def library_versions(python: list[str]) -> dict:
    import subprocess  # noqa: S404

    code = ("import json, cv2, imageio_ffmpeg; print(json.dumps({'opencv': cv2.__version__, "
            "'ffmpeg': imageio_ffmpeg.get_ffmpeg_version()}))")
    return json.loads(subprocess.run([*python, "-c", code], capture_output=True, text=True, check=True).stdout)  # noqa: S603


def test_the_media_image_has_the_libraries_the_cli_has(docker_ready):
    """Frames are only equal if both sides decode, resize, draw and encode with the same OpenCV and ffmpeg."""
    import sys

    from lambda_containers import function_specs

    image = function_specs()["ExtractFunction"].image
    inside = library_versions(["docker", "run", "--rm", "--entrypoint", "/var/lang/bin/python3", image])
    assert inside == library_versions([sys.executable]), "rebuild the image (make sam-local) or the venv"


def test_a_job_through_the_containers_equals_the_in_process_run(docker_ready, job_clip, tmp_path):
    in_process = run_job(job_clip, tmp_path, in_containers=False)
    contained = run_job(job_clip, tmp_path, in_containers=True)
    # every function the job needs ran in its container, and the same calls were made
    ran = {name for name, _ in contained["invocations"]}
    assert {"ClaimJobFunction", "ExtractFunction", "InvokeEndpointFunction", "ResumeFunction", "EncodeChunkFunction",
            "AssembleFunction", "FinishJobFunction"} <= ran
    assert sorted(contained["calls"]) == sorted(in_process["calls"])
    expected = (FRAMES - 1) * FACTOR + 1
    for kind in ("video", "comparison"):
        assert len(contained[kind]["frames"]) == expected
        assert contained[kind]["frames"] == in_process[kind]["frames"], f"{kind}: frames differ"
        assert contained[kind]["audio"] and in_process[kind]["audio"]
