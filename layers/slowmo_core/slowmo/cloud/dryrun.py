"""`POST /jobs` with ``"dryRun": true``: the job's estimate, and nothing started, recorded or written.

The request is validated exactly as a real submission is (fields, options, the source object), then
the capacity model (slowmo.foresight.capacity, the one admission uses) is run on the facts the video's index
gives (slowmo.cloud.admission.read_index: a few ranged GETs, no download). Trim and slow ranges are
handed to the model as the frames they keep and the whole factor that never undercounts their output
(admission.curve_terms, the rule admission itself uses). A video whose index cannot be read without a
download (MKV, AVI, a fragmented MP4) gets no figures, and says so.
"""

from __future__ import annotations

import posixpath
from typing import Any

from slowmo.cloud.config import Settings
from slowmo.cloud.submission import SourceObject, check_source_size, head_source, request_from_api
from slowmo.foresight import capacity


def dry_run(settings: Settings, body: dict[str, Any], source: SourceObject, *, s3,
            stack: capacity.Stack | None = None) -> dict[str, Any]:
    """The estimate for a job request whose body and source have been checked like a submission's."""
    from slowmo.cloud.admission import curve_terms, facts_from_index, read_index

    source, _metadata = head_source(s3, source)
    check_source_size(source)
    token = body.get("clientToken")
    request = request_from_api(settings, source, body.get("options") or {}, str(token) if token else None)
    view: dict[str, Any] = {"dryRun": True, "jobId": request.job_id, "options": request.options,
                            "source": request.source.to_dict()}
    header, size = read_index(s3, source)
    if header is None:
        view["estimate"] = None
        view["message"] = (f"{posixpath.basename(source.key)}: its index cannot be read without downloading it; "
                           "submit the job and Extract estimates it before any GPU time is spent")
        return view
    work, job = curve_terms(facts_from_index(header, size), request.options, capacity.Job.from_options(request.options))
    report = capacity.estimate(work, job, stack or capacity.Stack.from_env())
    view["estimate"] = report.to_dict()
    view["fits"] = report.fits
    view["refusal"] = report.refusal()
    return view
