"""Service behaviour moto does not reproduce, added at the AWS boundary (tests only, never product code).
Each rule names the AWS page it comes from.

* ``EndpointLifecycle``: a SageMaker endpoint is Creating after CreateEndpoint and Updating after
  UpdateEndpoint until it becomes InService (moto makes it InService at once and has no
  UpdateEndpoint at all). Scaling calls fail in those states, and an update that changes the
  instance type of a variant registered with Application Auto Scaling fails:
  https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html ("If the update would
  change the instance type for any model that is a target for auto scaling, the update fails";
  auto scaling is blocked while the update is in progress) and
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html.
  A Failed or Deleting endpoint accepts only DeleteEndpoint ("DeleteEndpoint is the only operation that
  can be performed on a failed endpoint", EndpointStatus in
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html). Instances beyond
  the account's per-type quota ("ml.g5.xlarge for endpoint usage") are refused synchronously with
  ResourceLimitExceeded (Errors of
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html; quotas in
  https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html); the same quotas are what Service Quotas'
  ListServiceQuotas lists for ServiceCode sagemaker
  (https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html).
* ``StepFunctionsLimits``: every state's input and output, a Task's parameters after Parameters and a
  Map's collected results (without a ResultWriter) are at most 262,144 bytes of UTF-8 JSON, else
  States.DataLimitExceeded, which ``States.ALL`` does not catch or retry (nor States.Runtime):
  https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html ("Maximum input or output size
  for a task, state, or execution: 256 KiB") and
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html (States.ALL "can't
  catch the States.DataLimitExceeded terminal error"). An execution's history holds at most 25,000
  events; the execution fails when it would need more (same quotas page). Every Retry wait is logged,
  so tests can read the retry budget the ASL grants.
* ``S3Limits``: a single PutObject carries at most 5 GB
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html), a multipart part is
  5 MiB..5 GiB and numbered 1..10,000 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html;
  moto already checks the number and the 5 MiB minimum); every part size is recorded. ``drop_after``
  injects a GetObject body that breaks part-way, as a reset connection or read timeout does
  (botocore raises ResponseStreamingError from the body; the S3 performance guidelines say to retry on a
  new connection:
  https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html).
"""

from __future__ import annotations

import json
import threading
from unittest import mock

NAMESPACE = "sagemaker"
PAYLOAD_LIMIT = 262_144  # bytes of UTF-8 JSON: Step Functions' 256 KiB
HISTORY_LIMIT = 25_000  # events in one execution's history
UNCATCHABLE = ("States.DataLimitExceeded", "States.Runtime")  # States.ALL matches neither
SINGLE_PUT_LIMIT = 5 * 10**9  # 5 GB
PART_MAX = 5 * 2**30  # 5 GiB


class EndpointLifecycle:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self.instance_quota: dict[str, int] = {}  # instance type -> instances for endpoint usage (unset: no limit)
        self._patches: list = []

    def _backends(self):
        from moto.applicationautoscaling.models import applicationautoscaling_backends
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[self.account][self.region], applicationautoscaling_backends[self.account][self.region]

    def ready(self, name: str) -> None:
        """The endpoint finished creating or updating."""
        sagemaker, _ = self._backends()
        sagemaker.endpoints[name].endpoint_status = "InService"

    def fail(self, name: str, reason: str = "The primary container for production variant AllTraffic did not "
                                               "pass the ping health check.") -> None:
        """The endpoint could not be created or updated (SageMaker sets Failed and a FailureReason)."""
        sagemaker, _ = self._backends()
        sagemaker.endpoints[name].endpoint_status = "Failed"
        sagemaker.endpoints[name].failure_reason = reason

    def deleting(self, name: str) -> None:
        """DeleteEndpoint is executing."""
        sagemaker, _ = self._backends()
        sagemaker.endpoints[name].endpoint_status = "Deleting"

    def _instances_in_use(self, instance_type: str, but: str | None = None) -> int:
        """Instances of this type the account's other endpoints hold (moto keeps the type on the config only)."""
        sagemaker, _ = self._backends()
        total = 0
        for name, endpoint in sagemaker.endpoints.items():
            config = sagemaker.endpoint_configs.get(endpoint.endpoint_config_name)
            if name == but or config is None:
                continue
            types = {v["VariantName"]: v.get("InstanceType") for v in config.production_variants}
            total += sum(int(v.get("CurrentInstanceCount") or v.get("DesiredInstanceCount") or 0)
                         for v in endpoint.production_variants if types.get(v["VariantName"]) == instance_type)
        return total

    def check_quota(self, config: dict, endpoint_name: str) -> None:
        from moto.sagemaker.exceptions import SagemakerClientError

        class ResourceLimitExceeded(SagemakerClientError):
            code = "ResourceLimitExceeded"

        for variant in config["ProductionVariants"]:
            kind = variant.get("InstanceType")
            if kind not in self.instance_quota:
                continue
            wanted = int(variant.get("InitialInstanceCount") or 1) + self._instances_in_use(kind, but=endpoint_name)
            if wanted > self.instance_quota[kind]:
                raise ResourceLimitExceeded(
                    f"The account-level service limit '{kind} for endpoint usage' is {self.instance_quota[kind]} "
                    f"Instances, with current utilization of {wanted - int(variant.get('InitialInstanceCount') or 1)} "
                    f"Instances and a request delta of {int(variant.get('InitialInstanceCount') or 1)} Instances. "
                    "Please use AWS Service Quotas to request an increase for this quota.")

    def status(self, name: str) -> str | None:
        sagemaker, _ = self._backends()
        found = sagemaker.endpoints.get(name)
        return found.endpoint_status if found else None

    def _registered_variants(self, name: str) -> list[str]:
        _, autoscaling = self._backends()
        targets = autoscaling.targets.get("sagemaker:variant:DesiredInstanceCount", {})
        prefix = f"endpoint/{name}/variant/"
        return [rid[len(prefix):] for rid in targets if rid.startswith(prefix)]

    def __enter__(self) -> EndpointLifecycle:
        from moto.applicationautoscaling.exceptions import AWSValidationException
        from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
        from moto.core.responses import ActionResult
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse
        from moto.servicequotas.responses import ServiceQuotasResponse

        lifecycle = self
        original_create = SageMakerModelBackend.create_endpoint
        original_register = ApplicationAutoscalingBackend.register_scalable_target
        original_put_policy = ApplicationAutoscalingBackend.put_scaling_policy

        def create_endpoint(backend, *args, **kwargs):
            name = kwargs.get("endpoint_name") or args[0]
            config_name = kwargs.get("endpoint_config_name") or args[1]
            lifecycle.check_quota(backend.describe_endpoint_config(config_name), name)
            endpoint = original_create(backend, *args, **kwargs)
            endpoint.endpoint_status = "Creating"
            return endpoint

        def update_endpoint(response):
            backend = response.sagemaker_backend
            name = response._get_param("EndpointName")
            config_name = response._get_param("EndpointConfigName")
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                raise ValidationError(message=f"Could not find endpoint \"{name}\".")
            if endpoint.endpoint_status in ("Failed", "Deleting"):  # only DeleteEndpoint is allowed
                raise ValidationError(message=f"Cannot update endpoint \"{endpoint.arn}\" in status "
                                              f"{endpoint.endpoint_status}; the only operation allowed is DeleteEndpoint.")
            if endpoint.endpoint_status != "InService":
                raise ValidationError(message=f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
            config = backend.describe_endpoint_config(config_name)
            lifecycle.check_quota(config, name)
            new_types = {v["VariantName"]: v.get("InstanceType") for v in config["ProductionVariants"]}
            old_types = {v["VariantName"]: v.get("InstanceType") for v in endpoint.production_variants}
            for variant in lifecycle._registered_variants(name):
                if new_types.get(variant) != old_types.get(variant):
                    raise ValidationError(message=(
                        f"The variant(s) \"[{variant}]\" must be deregistered as scalable targets with AWS "
                        "Application Auto Scaling before they can be removed or have their instance type updated."))
            endpoint.endpoint_config_name = config_name
            endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
            endpoint.endpoint_status = "Updating"
            return ActionResult({"EndpointArn": endpoint.arn})

        original_add_tags = SageMakerModelBackend.add_tags

        def add_tags(backend, arn, tags):
            name = arn.rsplit(":endpoint/", 1)[1] if ":endpoint/" in arn else None
            endpoint = backend.endpoints.get(name) if name else None
            if endpoint is not None and endpoint.endpoint_status in ("Failed", "Deleting"):
                raise ValidationError(message=f"Cannot tag endpoint \"{arn}\" in status {endpoint.endpoint_status}; "
                                              "the only operation allowed is DeleteEndpoint.")
            return original_add_tags(backend, arn, tags)

        def check_in_service(resource_id: str) -> None:
            parts = resource_id.split("/")
            if len(parts) >= 2 and parts[0] == "endpoint":
                status = lifecycle.status(parts[1])
                if status not in (None, "InService"):
                    raise AWSValidationException(
                        f"Endpoint {parts[1]} is in {status} state; auto scaling can be configured only "
                        "while it is InService")

        def register_scalable_target(backend, namespace, r_id, *args, **kwargs):
            if namespace == NAMESPACE:
                check_in_service(r_id)
            return original_register(backend, namespace, r_id, *args, **kwargs)

        def put_scaling_policy(backend, *args, **kwargs):
            if kwargs.get("service_namespace") == NAMESPACE:
                check_in_service(kwargs["resource_id"])
            return original_put_policy(backend, *args, **kwargs)

        def list_service_quotas(response):
            """Service Quotas' ListServiceQuotas for SageMaker: the instance quotas set here (moto has none)."""
            if response._get_param("ServiceCode") != NAMESPACE:
                return json.dumps({"Quotas": []})
            return json.dumps({"Quotas": [
                {"ServiceCode": NAMESPACE, "ServiceName": "Amazon SageMaker", "QuotaName": f"{kind} for endpoint usage",
                 "QuotaCode": f"L-{abs(hash(kind)) % 10**8:08d}", "Value": float(value), "Unit": "None",
                 "Adjustable": True, "GlobalQuota": False}
                for kind, value in sorted(lifecycle.instance_quota.items())]})

        self._patches = [
            mock.patch.object(ServiceQuotasResponse, "list_service_quotas", list_service_quotas, create=True),
            mock.patch.object(SageMakerModelBackend, "create_endpoint", create_endpoint),
            mock.patch.object(SageMakerModelBackend, "add_tags", add_tags),
            mock.patch.object(SageMakerResponse, "update_endpoint", update_endpoint, create=True),
            mock.patch.object(ApplicationAutoscalingBackend, "register_scalable_target", register_scalable_target),
            mock.patch.object(ApplicationAutoscalingBackend, "put_scaling_policy", put_scaling_policy),
        ]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc) -> None:
        for patch in reversed(self._patches):
            patch.stop()


# ------------------------------------------------------------------------------------------- Step Functions
def payload_bytes(value) -> int:
    """The size Step Functions counts: the UTF-8 bytes of the value as compact JSON (a string as is)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return len(text.encode("utf-8"))


def within_payload_limit(value) -> bool:
    return payload_bytes(value) <= PAYLOAD_LIMIT


class StepFunctionsLimits:
    """Payload and history quotas, and the errors States.ALL does not match, in moto's ASL interpreter.

    moto already fails a state whose output or a task whose result is too large (with ``<``, one byte
    short); this makes the limit the documented 262,144 bytes, adds the state's input after Parameters /
    ItemSelector, a Map's collected results when it has no ResultWriter, and the 25,000-event history,
    and stops ``States.ALL`` from catching or retrying States.DataLimitExceeded and States.Runtime.
    ``largest`` keeps the largest payload each state handled and ``retries`` every Retry wait taken.
    """

    def __init__(self):
        self.largest: dict[str, int] = {}  # state name -> largest input, output or collected result (bytes)
        self.retries: list[tuple[str, list[str], float]] = []  # (state, error names, seconds waited)
        self.history_limit = HISTORY_LIMIT
        self._lock = threading.Lock()
        self._patches: list = []

    def _note(self, state: str, size: int) -> None:
        with self._lock:
            self.largest[state] = max(self.largest.get(state, 0), size)

    def __enter__(self) -> StepFunctionsLimits:
        from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
        from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
            FailureEvent,
            FailureEventException,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
            StatesErrorName,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
            StatesErrorNameType,
        )
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state import state as state_module
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
        from moto.stepfunctions.parser.asl.eval.event import event_manager
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        limits = self
        data_limit = StatesErrorNameType.StatesStatesDataLimitExceeded

        def too_large(env, state_name: str, what: str, size: int):
            cause = (f"The state/task '{state_name}' {what} has a size of {size} bytes, over the maximum of "
                     f"{PAYLOAD_LIMIT} bytes service limit.")
            return FailureEventException(failure_event=FailureEvent(
                env=env, error_name=StatesErrorName(typ=data_limit), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
                    error=data_limit.to_name(), cause=cause))))

        # 1. the limit itself, where moto checks it (state output, task result)
        quota_patches = [mock.patch.object(module, "is_within_size_quota", within_payload_limit)
                         for module in (state_module, state_task_lambda, state_task_service)]

        def checked(env, state_name: str, what: str, payload) -> None:
            """Record a payload's size for its state and fail the execution when it is over the limit."""
            size = payload_bytes(payload)
            limits._note(state_name, size)
            if size > PAYLOAD_LIMIT:
                raise too_large(env, state_name, what, size)

        # 2. a state's input (a Map item's input included), recorded and checked
        original_input = state_module.CommonStateField._eval_state_input

        def eval_state_input(state, env):
            original_input(state, env)
            checked(env, state.name, "input", env.stack[-1])

        original_body = state_module.CommonStateField._eval_body

        def eval_body(state, env):
            original_body(state, env)
            try:
                limits._note(state.name, payload_bytes(env.states.get_input()))
            except Exception:  # noqa: BLE001 - a failed state has no output to measure
                pass

        # 3. a task's parameters after Parameters processing
        original_parameters = state_task_service.StateTaskService._eval_parameters

        def eval_parameters(task, env):
            parameters = original_parameters(task, env)
            checked(env, task.name, "parameters", parameters)
            return parameters

        # 4. a Map's collected results: without a ResultWriter they are the Map's result, whatever ResultPath
        original_map = StateMap._eval_execution

        def map_execution(state, env):
            original_map(state, env)
            if state.result_writer is None:
                checked(env, state.name, "collected result", env.stack[-1])

        # 5. States.ALL matches neither States.DataLimitExceeded nor States.Runtime
        original_equals = error_equals_decl.ErrorEqualsDecl._eval_body

        def error_equals(decl, env):
            error_name = env.stack[-1]
            named = getattr(error_name, "error_name", None)
            original_equals(decl, env)
            if named in UNCATCHABLE and env.stack[-1] and not any(
                    getattr(n, "error_name", None) == named for n in decl.error_names):
                env.stack[-1] = False

        # 6. every Retry wait, logged (the retry budget the ASL grants)
        original_retrier = retrier_decl.RetrierDecl._eval_body

        def retrier(decl, env):
            slept: list[float] = []
            real_sleep = retrier_decl.time.sleep
            me = threading.get_ident()

            def sleep(seconds):
                if threading.get_ident() == me:  # time.sleep is shared: count this retrier's wait only
                    slept.append(seconds)
                real_sleep(seconds)

            with mock.patch.object(retrier_decl.time, "sleep", sleep):
                original_retrier(decl, env)
            if slept:
                state = env.states.context_object.context_object_data.get("State", {}).get("Name", "?")
                with limits._lock:
                    limits.retries.append((state, [getattr(n, "error_name", "?") for n in decl.error_equals.error_names],
                                           sum(slept)))

        # 7. 25,000 events per execution history. A Distributed Map's iterations are child executions, each with
        # a history of its own ("Each child workflow execution has its own separate execution history",
        # https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html); moto keeps one history
        # for a whole map run, so the limit is held to the parent's history only.
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
            distributed_iteration_component as distributed,
        )

        original_add = event_manager.EventManager.add_event

        class MapRunHistory(event_manager.EventManager):
            """The events of a Distributed Map's child executions, which moto records together."""

        # 8. A Distributed Map's failure threshold (ToleratedFailureCount/-Percentage, 0 unless set): once more
        # children have failed, the Map Run fails with States.ExceedToleratedFailureThreshold and Step Functions
        # starts no more children ("Distributed Map failure threshold",
        # https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold).
        # moto counts a failed child and goes on with every other item, and the Map then succeeds.
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
            distributed_item_processor_worker as map_worker,
        )

        original_job = map_worker.DistributedItemProcessorWorker._eval_job
        threshold = StatesErrorNameType.StatesExceedToleratedFailureThreshold

        def eval_job(worker, env, job):
            original_job(worker, env, job)
            record = worker._map_run_record
            failed = record.item_counter.failed.get()
            if not failed or job.job_output is not None:
                return
            count, percent = record.tolerated_failure_count or 0, record.tolerated_failure_percentage or 0
            # moto stores an unset threshold as 0: with neither set, one failure is too many
            over_count = failed > count if count or not percent else False
            over_percent = 100 * failed / max(1, record.item_counter.total.get()) > percent if percent else False
            if over_count or over_percent:
                cause = "The specified tolerated failure threshold was exceeded"
                job.job_output = FailureEventException(failure_event=FailureEvent(
                    env=env, error_name=StatesErrorName(typ=threshold), event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
                        error=threshold.to_name(), cause=cause))))

        def add_event(history, *args, **kwargs):
            event_id = original_add(history, *args, **kwargs)
            if not isinstance(history, MapRunHistory) and len(history._history_event_list) > limits.history_limit:
                raise RuntimeError(f"execution history over {limits.history_limit} events "
                                   "(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)")
            return event_id

        self._patches = [*quota_patches,
                         mock.patch.object(state_module.CommonStateField, "_eval_state_input", eval_state_input),
                         mock.patch.object(state_module.CommonStateField, "_eval_body", eval_body),
                         mock.patch.object(state_task_service.StateTaskService, "_eval_parameters", eval_parameters),
                         mock.patch.object(StateMap, "_eval_execution", map_execution),
                         mock.patch.object(error_equals_decl.ErrorEqualsDecl, "_eval_body", error_equals),
                         mock.patch.object(retrier_decl.RetrierDecl, "_eval_body", retrier),
                         mock.patch.object(event_manager.EventManager, "add_event", add_event),
                         mock.patch.object(distributed, "EventManager", MapRunHistory),
                         mock.patch.object(map_worker.DistributedItemProcessorWorker, "_eval_job", eval_job)]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc) -> None:
        for patch in reversed(self._patches):
            patch.stop()


# ------------------------------------------------------------------------------------------- S3
class S3Limits:
    """S3's object and part size limits in moto, the part sizes uploaded, and injected broken GetObject bodies."""

    def __init__(self):
        self.parts: list[tuple[str, int, int]] = []  # (multipart upload id, part number, bytes)
        self.broken_reads = 0  # GetObject bodies that broke part-way
        self.single_put_limit = SINGLE_PUT_LIMIT
        self.part_max = PART_MAX
        self._drops: dict[tuple[str, str], list[int]] = {}  # (bucket, key) -> bytes each next body delivers
        self._lock = threading.Lock()
        self._patches: list = []

    def drop_after(self, bucket: str, key: str, *after: int) -> None:
        """The next len(after) GetObject bodies of bucket/key break after that many bytes each."""
        with self._lock:
            self._drops.setdefault((bucket, key), []).extend(after)

    def __enter__(self) -> S3Limits:
        import botocore.client
        from botocore.exceptions import ResponseStreamingError
        from moto.s3.exceptions import S3ClientError
        from moto.s3.models import FakeMultipart, S3Backend

        limits = self

        class EntityTooLarge(S3ClientError):
            def __init__(self, size: int, limit: int):
                super().__init__("EntityTooLarge", f"Your proposed upload ({size} bytes) exceeds the maximum "
                                                   f"allowed size ({limit} bytes)")

        original_put = S3Backend.put_object
        original_set_part = FakeMultipart.set_part

        def put_object(backend, bucket_name, key_name, value, *args, **kwargs):
            if kwargs.get("multipart") is None and len(value) > limits.single_put_limit:
                raise EntityTooLarge(len(value), limits.single_put_limit)
            return original_put(backend, bucket_name, key_name, value, *args, **kwargs)

        def set_part(multipart, part_id, value):
            if len(value) > limits.part_max:
                raise EntityTooLarge(len(value), limits.part_max)
            with limits._lock:
                limits.parts.append((multipart.id, int(part_id), len(value)))
            return original_set_part(multipart, part_id, value)

        class BreakingBody:
            """A GetObject body whose connection drops after ``left`` bytes."""

            def __init__(self, body, left: int):
                self._body, self._left = body, left

            def read(self, amt=None):
                if self._left <= 0:
                    with limits._lock:
                        limits.broken_reads += 1
                    raise ResponseStreamingError(error="Connection broken: ConnectionResetError(104, 'reset by peer')")
                data = self._body.read(self._left if amt is None else min(amt, self._left))
                self._left -= len(data)
                return data

            def close(self):
                self._body.close()

            def __getattr__(self, name):
                return getattr(self._body, name)

        original_call = botocore.client.BaseClient._make_api_call

        def make_api_call(client, operation, params):
            result = original_call(client, operation, params)
            if operation == "GetObject":
                with limits._lock:
                    pending = limits._drops.get((params.get("Bucket"), params.get("Key")))
                    after = pending.pop(0) if pending else None
                if after is not None:
                    result["Body"] = BreakingBody(result["Body"], after)
            return result

        self._patches = [mock.patch.object(S3Backend, "put_object", put_object),
                         mock.patch.object(FakeMultipart, "set_part", set_part),
                         mock.patch.object(botocore.client.BaseClient, "_make_api_call", make_api_call)]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc) -> None:
        for patch in reversed(self._patches):
            patch.stop()
