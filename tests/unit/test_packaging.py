"""model.tar.gz: DJL adapter + core package + FILM SavedModel, from a folder, S3 or a URL; deterministic."""

import os
import subprocess
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
            "slowmo/__init__.py", "slowmo/modelserver/handler.py", "slowmo/synthesis/engines/film.py", "slowmo/media/chunkio.py"} <= got
    assert any(n.startswith("film/variables/") for n in got)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in got)
    # deterministic: same inputs, same bytes
    again = packaging.build_model_tarball(str(saved_model_root / "saved_model"), tmp_path / "again.tar.gz")
    assert again.sha256 == info.sha256


def test_packaged_model_loads_from_film_dir(tmp_path, saved_model_root):
    info = packaging.build_model_tarball(str(saved_model_root), tmp_path / "model.tar.gz")
    with tarfile.open(info.path) as tf:
        tf.extractall(tmp_path / "opt_ml_model", filter="data")
    from slowmo.modelserver import handler as modelserver
    from slowmo.synthesis.engines.film import FilmEngine

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


# ------------------------------------------------------------------------ offline install and load

PROBE = "slowmo_offline_probe"


def make_wheel(dest: Path, name: str = PROBE, tag: str = "py3-none-any") -> Path:
    """A minimal, valid wheel (PEP 427): one module, METADATA, WHEEL and RECORD."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}.py": b"VALUE = 42\n",
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{name}-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    files[f"{name}-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = dest / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture
def server_with_probe_requirement(tmp_path):
    """The repository's model/ files, with a requirements.txt that needs one package from a wheel."""
    server = tmp_path / "server"
    server.mkdir()
    for name in packaging.SERVER_FILES:
        (server / name).write_bytes((packaging.default_server_dir() / name).read_bytes())
    (server / "requirements.txt").write_text(f"# runtime\n{PROBE.replace('_', '-')}==1.0\n")
    return server


def djl_pip_install(model_dir: Path, target: Path) -> subprocess.CompletedProcess:
    """DJL's own command (PyEnv.installDependency: pip install -r requirements.txt -f requirements/), into
    ``target``, with pip's index disabled and any index URL pointing nowhere: no network at load."""
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
    cmd = [sys.executable, "-m", "pip", "-q", "install", "-r", str(model_dir / "requirements.txt"),
           "-f", str(model_dir / packaging.WHEELS_DIR), "--target", str(target)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/", check=False)  # noqa: S603


def test_tarball_with_wheels_installs_offline_and_loads(tmp_path, saved_model_root, server_with_probe_requirement):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    info = packaging.build_model_tarball(str(saved_model_root), tmp_path / "model.tar.gz",
                                         server_dir=server_with_probe_requirement, wheels_dir=wheels)
    assert f"requirements/{PROBE}-1.0-py3-none-any.whl" in names(info.path)
    opt = tmp_path / "opt_ml_model"
    with tarfile.open(info.path) as tf:
        tf.extractall(opt, filter="data")
    lines = (opt / "requirements.txt").read_text().splitlines()
    assert "--no-index" in lines and "--find-links requirements" in lines
    site = tmp_path / "site"
    proc = djl_pip_install(opt, site)
    assert proc.returncode == 0, proc.stderr
    assert (site / f"{PROBE}.py").is_file()
    # the DJL load, in a fresh interpreter: the installed package, the packaged core and FILM model
    load = (
        "import sys, types\n"
        f"sys.path[:0] = [{str(site)!r}, {str(opt)!r}]\n"
        "sys.modules['djl_python'] = types.SimpleNamespace(Output=object, Input=object)\n"
        "import model, slowmo, " + PROBE + "\n"
        "class Ping:\n    def is_empty(self): return True\n"
        "assert model.handle(Ping()) is None\n"
        f"assert slowmo.__file__.startswith({str(opt)!r}), slowmo.__file__\n"
        f"print({PROBE}.VALUE, model.modelserver.film_model_path())\n"
    )
    # a fresh container's environment: model/model.py sets SLOWMO_MODEL_DIR on import, so a test that imported the
    # checkout's model.py earlier in this process must not hand its folder to the loader
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SLOWMO_FILM_MODEL", "SLOWMO_MODEL_DIR")}
    run = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, env=env, cwd=tmp_path,  # noqa: S603
                         check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["42", str(opt / "film")]


def test_offline_tarball_refuses_missing_or_foreign_wheels(tmp_path, saved_model_root, server_with_probe_requirement):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with pytest.raises(InputError, match="no wheels"):
        packaging.build_model_tarball(str(saved_model_root), tmp_path / "m.tar.gz",
                                      server_dir=server_with_probe_requirement, wheels_dir=wheels)
    make_wheel(wheels, name="other_package")
    with pytest.raises(InputError, match=r"no wheel for the image's Python 3\.10.*slowmo-offline-probe"):
        packaging.build_model_tarball(str(saved_model_root), tmp_path / "m.tar.gz",
                                      server_dir=server_with_probe_requirement, wheels_dir=wheels)
    make_wheel(wheels, tag="cp311-cp311-manylinux2014_x86_64")  # built for 3.11: would not install on 3.10
    with pytest.raises(InputError, match="no wheel for the image's Python"):
        packaging.build_model_tarball(str(saved_model_root), tmp_path / "m.tar.gz",
                                      server_dir=server_with_probe_requirement, wheels_dir=wheels)
    assert not (tmp_path / "m.tar.gz").exists()


def test_wheel_tags_for_the_image():
    fits = packaging.wheel_fits_image
    assert fits("numpy-2.0.2-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert fits("boto3-1.35.0-py3-none-any.whl")
    assert fits("opencv_python_headless-4.10.0.84-cp37-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert not fits("numpy-2.0.2-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert not fits("numpy-2.0.2-cp310-cp310-macosx_11_0_arm64.whl")
    assert not fits("tensorflow-2.17.1-cp310-cp310-manylinux_2_17_aarch64.whl")
    assert packaging.requirement_names("# x\ntensorflow[and-cuda]==2.17.1\nnumpy>=1.26,<2.1\n--no-index\n"
                                       "Imageio_FFmpeg>=0.5\n") == ["tensorflow", "numpy", "imageio-ffmpeg"]


def test_repository_requirements_all_have_names():
    text = (packaging.default_server_dir() / "requirements.txt").read_text()
    assert set(packaging.requirement_names(text)) >= {"tensorflow", "numpy", "opencv-python-headless",
                                                      "imageio-ffmpeg", "boto3"}


def test_a_failed_load_fails_the_health_check(tmp_path, saved_model_root, monkeypatch):
    """A model that cannot load must make DJL's initialisation raise (the instance never turns healthy),
    and a worker kept anyway answers every request with the reason, never a silent 503."""
    import importlib.util
    import json
    import types

    info = packaging.build_model_tarball(str(saved_model_root), tmp_path / "model.tar.gz")
    opt = tmp_path / "opt_ml_model"
    with tarfile.open(info.path) as tf:
        tf.extractall(opt, filter="data")
    (opt / "film" / "saved_model.pb").write_bytes(b"truncated download")

    class Input:
        def __init__(self, body=None):
            self.body = body

        def is_empty(self):
            return self.body is None

        def get_as_bytes(self):
            return self.body

    class Output:
        def __init__(self):
            self.code, self.message, self.body = 200, "", []

        def set_code(self, c):
            self.code = c

        def set_message(self, m):
            self.message = m

        def add_property(self, k, v):
            pass

        def add(self, v):
            self.body.append(v)

    monkeypatch.setitem(sys.modules, "djl_python", types.SimpleNamespace(Output=Output, Input=Input))
    monkeypatch.delenv("SLOWMO_MODEL_DIR", raising=False)
    monkeypatch.delenv("SLOWMO_FILM_MODEL", raising=False)
    spec = importlib.util.spec_from_file_location("packaged_model_adapter", opt / "model.py")
    adapter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adapter)
    with pytest.raises(RuntimeError) as err:
        adapter.handle(Input())  # DJL's initialisation call
    message = str(err.value)
    assert "\n" not in message and "cannot load the FILM model" in message
    with pytest.raises(RuntimeError):
        adapter.handle(Input())  # every later ping fails too
    out = adapter.handle(Input(b'{"inputs": ["s3://w/i"], "output": "s3://w/o", "factor": 2}'))
    assert out.code == 503 and out.message == message
    assert json.loads(out.body[0]) == {"status": "failed", "error": "EngineUnavailableError", "message": message}
