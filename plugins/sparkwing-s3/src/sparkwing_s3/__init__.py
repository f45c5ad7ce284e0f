"""sparkwing-s3: sparkwing's state, logs and cache in an Amazon S3 (or S3-compatible) bucket."""

__version__ = "0.1.0"
