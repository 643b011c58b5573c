"""Static checks: template.yaml lints clean (cfn-lint, sam validate --lint), the ASL lints clean inside a
wrapper template, and the ASL's placeholders are exactly the template's DefinitionSubstitutions."""

from __future__ import annotations

import json
import shutil
import subprocess  # noqa: S404
import sys
from pathlib import Path

import pytest
from cloud_fixtures import (
    ASL_PATH,
    FUNCTIONS,
    ROOT,
    TEMPLATE_PATH,
    asl_placeholders,
    template_substitution_keys,
)

sys.path.insert(0, str(Path(__file__).parent))
import lint_asl  # noqa: E402


def _tool(name: str) -> str | None:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else shutil.which(name)


def test_asl_is_valid_json_with_a_distributed_map():
    definition = json.loads(ASL_PATH.read_text())
    item_reader_maps = [s for s in definition["States"].values() if s["Type"] == "Map" and "ItemReader" in s]
    assert item_reader_maps and item_reader_maps[0]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


def test_asl_placeholders_match_the_template_substitutions():
    assert asl_placeholders() == template_substitution_keys()


def test_asl_lints_clean():
    result = lint_asl.lint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_lints_clean():
    cfn_lint = _tool("cfn-lint")
    if cfn_lint is None:
        pytest.skip("cfn-lint is not installed")
    result = subprocess.run([cfn_lint, str(TEMPLATE_PATH)], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint():
    sam = _tool("sam")
    if sam is None:
        pytest.skip("aws-sam-cli is not installed")
    env = {"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    result = subprocess.run([sam, "validate", "--lint", "--region", "us-east-1", "-t", str(TEMPLATE_PATH)],  # noqa: S603
                            capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_folder_is_in_the_template():
    text = TEMPLATE_PATH.read_text()
    for logical, folder in FUNCTIONS.items():
        assert f"  {logical}:\n" in text
        assert (ROOT / "functions" / folder / "app.py").exists()
        # a zip function names its folder as CodeUri; a media function its handler in the shared image
        assert f"functions/{folder}/" in text or f'Command: ["{folder}.app.lambda_handler"]' in text


def test_media_functions_share_one_image_built_from_the_lambda_python_base():
    dockerfile = (ROOT / "images/media/Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM public.ecr.aws/lambda/python:3.12" in dockerfile
    assert "layers/slowmo_core/slowmo" in dockerfile
    reqs = (ROOT / "images/media/requirements.txt").read_text()
    assert "opencv-python-headless" in reqs and "imageio-ffmpeg" in reqs
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE_PATH))
    assert not matches, matches
    for logical, folder in (("ExtractFunction", "extract"), ("EncodeChunkFunction", "encode_chunk"),
                            ("AssembleFunction", "assemble")):
        function = template["Resources"][logical]
        assert function["Metadata"]["Dockerfile"] == "images/media/Dockerfile"
        # the handler each function runs is its own folder's app.py, copied into the image under that name
        command = function["Properties"]["ImageConfig"]["Command"]
        assert command == [f"{folder}.app.lambda_handler"]
        assert f"COPY functions/{folder}/app.py ${{LAMBDA_TASK_ROOT}}/{folder}/app.py" in dockerfile
