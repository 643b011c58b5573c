"""DJL Serving (Python engine) adapter: one SageMaker async invocation -> slowmo.modelserver.

model.tar.gz layout (built by ``slowmo.cloud.packaging``)::

    serving.properties   engine=Python
    model.py             this file
    requirements.txt     TensorFlow and slowmo's runtime dependencies
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

from slowmo import modelserver  # noqa: E402

log = logging.getLogger("slowmo.model")
_warm = False


def _output():
    from djl_python import Output

    return Output()


def handle(inputs):
    """DJL entry point: ``inputs`` is a djl_python.Input; returns a djl_python.Output (or None)."""
    global _warm
    if not _warm:
        os.environ.setdefault(modelserver.MODEL_DIR_ENV, HERE)
        try:
            path = modelserver.warmup(HERE)
            log.info("slowmo model server ready (FILM model: %s)", path or "none packaged")
        except Exception as exc:  # noqa: BLE001 - surface in logs; requests will report it too
            log.error("FILM warm-up failed: %s", exc)
        _warm = True
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
