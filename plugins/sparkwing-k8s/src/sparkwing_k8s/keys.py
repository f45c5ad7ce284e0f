"""The keys of the ``k8s`` executor's profile block and job settings (cheap to import)."""

from __future__ import annotations

#: Keys only the profile block may hold (how to reach the cluster).
CONNECTION_KEYS = ("kubeconfig", "context", "in_cluster", "request_timeout_s")
#: Keys both the profile block and a job's settings may hold.
JOB_KEYS = (
    "image", "image_pull_policy", "image_pull_secrets", "namespace", "service_account",
    "resources", "node_selector", "tolerations", "env", "secret_env", "labels", "annotations",
    "ttl_s", "active_deadline_s", "deadline_margin_s", "image_pull_grace_s",
    "config_error_grace_s", "pending_timeout_s", "termination_grace_s", "command",
    "working_dir", "run_as_non_root",
)
#: Every key the profile block may hold (besides ``type``).
PROFILE_KEYS = CONNECTION_KEYS + JOB_KEYS
