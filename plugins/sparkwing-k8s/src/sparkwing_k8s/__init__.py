"""sparkwing-k8s: each job attempt as a Kubernetes Job."""

__version__ = "0.1.0"
