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
"""

from __future__ import annotations

from unittest import mock

NAMESPACE = "sagemaker"


class EndpointLifecycle:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self._patches: list = []

    def _backends(self):
        from moto.applicationautoscaling.models import applicationautoscaling_backends
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[self.account][self.region], applicationautoscaling_backends[self.account][self.region]

    def ready(self, name: str) -> None:
        """The endpoint finished creating or updating."""
        sagemaker, _ = self._backends()
        sagemaker.endpoints[name].endpoint_status = "InService"

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

        lifecycle = self
        original_create = SageMakerModelBackend.create_endpoint
        original_register = ApplicationAutoscalingBackend.register_scalable_target
        original_put_policy = ApplicationAutoscalingBackend.put_scaling_policy

        def create_endpoint(backend, *args, **kwargs):
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
            if endpoint.endpoint_status not in ("InService", "Failed"):
                raise ValidationError(message=f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
            config = backend.describe_endpoint_config(config_name)
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

        self._patches = [
            mock.patch.object(SageMakerModelBackend, "create_endpoint", create_endpoint),
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
