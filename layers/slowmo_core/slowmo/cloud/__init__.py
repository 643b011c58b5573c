"""The serverless side of slowmo: pieces the Lambdas, the state machine and the signed-API client share.

Everything here is importable without AWS credentials and without heavy imports at module level;
boto3 is imported lazily by the modules that talk to AWS, so `slowmo.cloud.layout`,
`slowmo.cloud.submission`, ... stay cheap for zip Lambdas and unit tests.
"""
