"""Where every object of a job lives in S3. One place, so the Lambdas, the state machine and the
model server agree on keys without passing them around.

Work bucket (expires after the retention days):

    jobs/<job>/extract/container.json       the container's description and key packets (Extract's first step)
    jobs/<job>/extract/ranges.json          JSON array of time ranges (the scan Map's ItemReader)
    jobs/<job>/extract/scan-<nnnnn>.json    one range's frame times and cuts
    jobs/<job>/extract/groups.json          JSON array of chunk groups (the cut Map's ItemReader)
    jobs/<job>/plan.json                    video info, options, chunk plan summary
    jobs/<job>/manifest.json                JSON array of chunk items (the Distributed Map's ItemReader)
    jobs/<job>/chunks/<nnnnn>/input.chunk   the chunk's source frames (slowmo.media.chunkio)
    jobs/<job>/chunks/<nnnnn>/request.json  the async inference request (InputLocation)
    jobs/<job>/chunks/<nnnnn>/output.chunk  synthesised frames written by the model server
    jobs/<job>/chunks/<nnnnn>/video.mp4     the chunk's encoded segment
    jobs/<job>/chunks/<nnnnn>/compare.mp4   the chunk's side-by-side segment
    map-results/<map-run-id>/...            Distributed Map ResultWriter (one folder per map run)
    async/out/<inference-id>.out            SageMaker's copy of the model server's response
    async/failures/...                      SageMaker's failure bodies

Output bucket:

    outputs/<job>/<stem>-x<K>.mp4           the slow-motion video
    outputs/<job>/<stem>-x<K>-compare.mp4   original (frames repeated) | interpolated, side by side
    tmp/<job>/...                           written first, then copied to outputs/ and deleted
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import urlparse

from slowmo.errors import InputError

CHUNK_SUFFIX = ".chunk"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/key/with/slashes' -> ('bucket', 'key/with/slashes')."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise InputError(f"not an S3 object URI: {uri!r} (expected s3://bucket/key)")
    return parsed.netloc, parsed.path.lstrip("/")


def video_stem(key: str) -> str:
    stem, _ = posixpath.splitext(posixpath.basename(key))
    return stem or "video"


@dataclass(frozen=True)
class JobLayout:
    job_id: str
    work_bucket: str
    output_bucket: str

    @property
    def prefix(self) -> str:
        return f"jobs/{self.job_id}/"

    @property
    def plan_key(self) -> str:
        return self.prefix + "plan.json"

    @property
    def manifest_key(self) -> str:
        return self.prefix + "manifest.json"

    @property
    def container_key(self) -> str:
        return self.prefix + "extract/container.json"

    @property
    def ranges_key(self) -> str:
        return self.prefix + "extract/ranges.json"

    def scan_key(self, index: int) -> str:
        return self.prefix + f"extract/scan-{index:05d}.json"

    @property
    def groups_key(self) -> str:
        return self.prefix + "extract/groups.json"

    def chunk_prefix(self, index: int) -> str:
        return f"{self.prefix}chunks/{index:05d}/"

    def chunk_input_key(self, index: int) -> str:
        return self.chunk_prefix(index) + "input" + CHUNK_SUFFIX

    def chunk_request_key(self, index: int) -> str:
        return self.chunk_prefix(index) + "request.json"

    def chunk_output_key(self, index: int) -> str:
        return self.chunk_prefix(index) + "output" + CHUNK_SUFFIX

    def segment_key(self, index: int, kind: str = "video") -> str:
        return self.chunk_prefix(index) + f"{kind}.mp4"

    def output_key(self, source_key: str, factor: int | float | str, kind: str = "video") -> str:
        suffix = "" if kind == "video" else f"-{kind}"
        return f"outputs/{self.job_id}/{video_stem(source_key)}-x{factor}{suffix}.mp4"

    def temporary_key(self, final_key: str) -> str:
        return f"tmp/{self.job_id}/{posixpath.basename(final_key)}"
