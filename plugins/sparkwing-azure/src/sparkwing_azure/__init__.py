"""sparkwing-azure: sparkwing's state, logs and cache in an Azure Blob Storage container."""

__version__ = "0.1.0"
