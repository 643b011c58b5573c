"""Resume: the endpoint's success/error SNS topics call this. Each notification names an
InferenceId; its task token resumes (or fails) the Map item waiting for that chunk."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.inference import AsyncInferenceResult, TokenStore, resume_task
from slowmo.cloud.lambda_startup import lambda_entry, logger, metrics, stack_settings


@lambda_entry()
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict:
    settings = stack_settings()
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
