"""sparkwing-gcs: sparkwing's state, logs and cache in a Google Cloud Storage bucket."""

__version__ = "0.1.0"
