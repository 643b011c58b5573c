"""model.tar.gz: DJL adapter + core package + FILM SavedModel, from a folder, S3 or a URL; deterministic."""

import sys
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from slowmo.cloud import packaging
from slowmo.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import film_fixtures  # noqa: E402


@pytest.fixture(scope="module")
def saved_model_root():
    return Path(film_fixtures.film_midpoint_savedmodel())  # holds saved_model/saved_model.pb


def names(path):
    with tarfile.open(path) as tf:
        return set(tf.getnames())


def test_from_local_folder(tmp_path, saved_model_root):
    info = packaging.build_model_tarball(str(saved_model_root), tmp_path / "model.tar.gz")
    got = names(info.path)
    assert {"serving.properties", "model.py", "requirements.txt", "film/saved_model.pb",
            "slowmo/__init__.py", "slowmo/modelserver.py", "slowmo/engines/film.py", "slowmo/chunkio.py"} <= got
    assert any(n.startswith("film/variables/") for n in got)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in got)
    # deterministic: same inputs, same bytes
    again = packaging.build_model_tarball(str(saved_model_root / "saved_model"), tmp_path / "again.tar.gz")
    assert again.sha256 == info.sha256


def test_packaged_model_loads_from_film_dir(tmp_path, saved_model_root):
    info = packaging.build_model_tarball(str(saved_model_root), tmp_path / "model.tar.gz")
    with tarfile.open(info.path) as tf:
        tf.extractall(tmp_path / "opt_ml_model", filter="data")
    from slowmo import modelserver
    from slowmo.engines.film import FilmEngine

    path = modelserver.film_model_path(str(tmp_path / "opt_ml_model"))
    assert path.endswith("film")
    assert FilmEngine(path, tile=None).model_path.endswith("film")


def test_from_s3_prefix_and_archive_and_url(tmp_path, saved_model_root, monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    archive = tmp_path / "film.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(saved_model_root / "saved_model", arcname="Style/saved_model")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        for f in (saved_model_root / "saved_model").rglob("*"):
            if f.is_file():
                s3.upload_file(str(f), "models", "film/Style/saved_model/" + f.relative_to(saved_model_root / "saved_model").as_posix())
        s3.upload_file(str(archive), "models", "film/style.tar.gz")
        a = packaging.build_model_tarball("s3://models/film/Style", tmp_path / "a.tar.gz", s3=s3)
        b = packaging.build_model_tarball("s3://models/film/style.tar.gz", tmp_path / "b.tar.gz", s3=s3)
        uri = packaging.upload_model_tarball(a.path, "s3://models/slowmo/", s3=s3)
        assert uri == "s3://models/slowmo/model.tar.gz"
        assert s3.head_object(Bucket="models", Key="slowmo/model.tar.gz")["ContentLength"] == a.size_bytes
        with pytest.raises(InputError, match="no objects"):
            packaging.build_model_tarball("s3://models/nothing", tmp_path / "n.tar.gz", s3=s3)
    c = packaging.build_model_tarball(archive.as_uri(), tmp_path / "c.tar.gz")  # file:// URL of an archive
    assert a.sha256 == b.sha256 == c.sha256


def test_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        packaging.build_model_tarball(str(tmp_path / "missing"), tmp_path / "m.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="saved_model.pb"):
        packaging.build_model_tarball(str(tmp_path / "empty"), tmp_path / "m.tar.gz")
    with pytest.raises(InputError, match="archive"):
        packaging.build_model_tarball("https://example.com/folder/", tmp_path / "m.tar.gz")
