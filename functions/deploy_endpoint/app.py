"""The endpoint API (AWS_IAM auth): deploy, inspect and delete the FILM asynchronous endpoint.

POST   /endpoint  {"instanceType"?, "maxInstances"?}  -> creates/updates it (returns at once; poll GET)
GET    /endpoint                                      -> status, instance counts, scaling
DELETE /endpoint                                      -> removes endpoint, configs, models, scaling
"""

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import endpoint
from slowmo.cloud.config import Settings
from slowmo.cloud.endpoint_api import endpoint_settings
from slowmo.errors import InputError

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()


@app.post("/endpoint")
@tracer.capture_method
def deploy_endpoint() -> Response:
    wanted = endpoint_settings(Settings.from_env(), app.current_event.json_body or {})
    # API Gateway gives us 29 s: start the work and let the caller poll GET /endpoint
    result = endpoint.deploy(wanted, wait=False)
    logger.info("endpoint deploy requested", result=result)
    return Response(202, content_types.APPLICATION_JSON, result)


@app.get("/endpoint")
@tracer.capture_method
def endpoint_status() -> dict:
    return endpoint.status(Settings.from_env().endpoint_name)


@app.delete("/endpoint")
@tracer.capture_method
def delete_endpoint() -> dict:
    result = endpoint.delete(Settings.from_env().endpoint_name)
    logger.info("endpoint deleted", result=result)
    return result


@app.exception_handler(InputError)
def bad_request(err: InputError) -> Response:
    return Response(400, content_types.APPLICATION_JSON, {"message": str(err)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
