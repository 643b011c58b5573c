"""The model server: the DJL/SageMaker handler that synthesises a chunk on the endpoint."""
