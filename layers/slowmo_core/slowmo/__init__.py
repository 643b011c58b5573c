"""slowmo: super slow motion by frame interpolation.

The package is imported by the CLI, the Lambdas and the model server, so importing it must stay
cheap: nothing heavy (OpenCV, TensorFlow, boto3) is imported at package level.
"""

__version__ = "0.1.0"
