"""The endpoint API (AWS_IAM auth): deploy, inspect and delete the FILM asynchronous endpoint.

POST   /endpoint  {"instanceType"?, "maxInstances"?}  -> creates/updates it (returns at once; poll GET)
GET    /endpoint                                      -> status, instance counts, scaling
DELETE /endpoint                                      -> removes endpoint, configs, models, scaling
EventBridge "SageMaker Endpoint State Change" (InService) -> registers scale-to-zero at once

A bad request or a refused instance quota is a 400 naming the quota; an endpoint that is busy, failed
(it is deleted: SageMaker allows nothing else) or being deleted is a 409 that says when to POST again.
"""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import endpoint
from slowmo.cloud.endpoint_api import endpoint_settings
from slowmo.cloud.lambda_startup import lambda_entry, logger, stack_settings, tracer
from slowmo.errors import InputError

app = APIGatewayRestResolver()


@app.post("/endpoint")
@tracer().capture_method
def deploy_endpoint() -> Response:
    wanted = endpoint_settings(stack_settings(), app.current_event.json_body or {})
    # API Gateway gives us 29 s: start the work and let the caller poll GET /endpoint
    result = endpoint.deploy(wanted, wait=False)
    logger.info("endpoint deploy requested", result=result)
    return Response(202, content_types.APPLICATION_JSON, result)


@app.get("/endpoint")
@tracer().capture_method
def endpoint_status() -> dict:
    return endpoint.status(stack_settings().endpoint_name)


@app.delete("/endpoint")
@tracer().capture_method
def delete_endpoint() -> dict:
    result = endpoint.delete(stack_settings().endpoint_name)
    logger.info("endpoint deleted", result=result)
    return result


@app.exception_handler(InputError)
def bad_request(err: InputError) -> Response:
    status = 409 if isinstance(err, endpoint.EndpointConflict) else 400
    return Response(status, content_types.APPLICATION_JSON, {"message": str(err)})


@lambda_entry(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if event.get("detail-type") == "SageMaker Endpoint State Change":  # the stack's EventBridge rule: InService
        result = endpoint.on_state_change(event["detail"], stack_settings().endpoint_name)
        logger.info("endpoint in service", result=result)
        return result
    return app.resolve(event, context)
