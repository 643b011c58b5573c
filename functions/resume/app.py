"""Resume: the endpoint's success/error SNS topics call this. Each notification names an
InferenceId; its task token resumes (or fails) the Map item waiting for that chunk."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.config import Settings
from slowmo.cloud.inference import AsyncInferenceResult, TokenStore, resume_task

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict:
    settings = Settings.from_env()
    tokens = TokenStore(settings.tokens_table, aws.resource("dynamodb"), settings.token_ttl_seconds)
    outcomes = []
    for record in event.records:
        result = AsyncInferenceResult.from_message(record.sns.message)
        outcome = resume_task(result, tokens=tokens, s3=aws.client("s3"), sfn=aws.client("stepfunctions"))
        logger.info("inference notification handled", inference_id=result.inference_id, status=result.status,
                    outcome=outcome, reason=result.failure_reason)
        metrics.add_metric(name=f"Inference{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        outcomes.append({"inferenceId": result.inference_id, "outcome": outcome})
    return {"handled": outcomes}
