"""DJL Serving (Python engine) adapter: one SageMaker async invocation -> slowmo.modelserver.handler.

model.tar.gz layout (built by ``slowmo.cloud.packaging``)::

    serving.properties   engine=Python
    model.py             this file
    requirements.txt     TensorFlow and slowmo's runtime dependencies, installed offline from requirements/
    requirements/        the wheels for the image's Python (3.10), when packaged with wheels
    slowmo/              the core package (same code as the CLI and the Lambdas)
    film/saved_model/    the FILM SavedModel

The request body is the small JSON request that the async invocation's InputLocation names; the
response is the JSON result that SageMaker stores at the OutputLocation. A failure answers a 4xx/5xx
with a one-line reason, which SageMaker writes to the S3 failure path and the error topic.
"""

from __future__ import annotations

import json
import logging
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # the packaged slowmo core lives next to this file

from slowmo.modelserver import handler as modelserver  # noqa: E402

log = logging.getLogger("slowmo.model")
_load_error: str | None = None
_loaded = False

# Imported at load so that a failed offline install (DJL only logs a failed `pip install -r
# requirements.txt`, PyEnv.installDependency in deepjavalibrary/djl-serving) fails the load instead.
RUNTIME_MODULES = ("numpy", "cv2", "imageio_ffmpeg", "boto3")


def _output():
    from djl_python import Output

    return Output()


def load() -> str | None:
    """Import the runtime, load the packaged FILM model and run one midpoint through it.

    Raises on any failure. DJL fails a model whose initialisation raises (PyEnv.failOnInitialize,
    true by default), so /ping never turns healthy and SageMaker's startup health check fails the
    instance: no endpoint goes InService only to answer 503 to every request.
    """
    import importlib

    for name in RUNTIME_MODULES:
        importlib.import_module(name)
    os.environ.setdefault(modelserver.MODEL_DIR_ENV, HERE)
    return modelserver.warmup(HERE)


def handle(inputs):
    """DJL entry point: ``inputs`` is a djl_python.Input; returns a djl_python.Output (or None)."""
    global _loaded, _load_error
    if not _loaded and _load_error is None:
        try:
            path = load()
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
            _load_error = f"model server failed to load: {type(exc).__name__}: {detail}"
            log.error("%s", _load_error, exc_info=True)
            raise RuntimeError(_load_error) from exc
        log.info("slowmo model server ready (FILM model: %s)", path or "none packaged")
        _loaded = True
    if _load_error is not None:  # DJL kept a worker whose load failed: every request says why
        if inputs.is_empty():
            raise RuntimeError(_load_error)
        out = _output()
        out.set_code(503)
        out.set_message(_load_error)
        out.add_property("content-type", "application/json")
        out.add(json.dumps({"status": "failed", "error": "EngineUnavailableError", "message": _load_error}))
        return out
    if inputs.is_empty():
        return None  # DJL's start-up ping
    out = _output()
    try:
        result = modelserver.handle_request(inputs.get_as_bytes(), base_model_dir=HERE)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a failed invocation with a reason
        body = modelserver.error_result(exc)
        log.error("request failed: %s", body["message"], exc_info=not isinstance(exc, modelserver.SlowmoError))
        out.set_code(modelserver.status_code(exc))
        out.set_message(body["message"])
        out.add_property("content-type", "application/json")
        out.add(json.dumps(body))
        return out
    log.info("chunk done: %s", json.dumps({k: result[k] for k in ("output", "output_frames", "seconds")}))
    out.add_property("content-type", "application/json")
    out.add(json.dumps(result))
    return out
