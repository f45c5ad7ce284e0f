"""Project and user configuration: ``.sparkwing/sparkwing.yaml``, ``profiles.yaml``, resolution.

* :func:`load_project` finds and validates the project's sparkwing.yaml;
* :func:`load_user_profiles` reads the user's profiles.yaml;
* :func:`resolve_profile` picks the profile for a command and says why;
* :func:`open_stores` builds that profile's state, logs and cache stores;
* :func:`evaluate_guards` decides whether a pipeline may be dispatched;
* :class:`RequiredPlugin` is one ``plugins.required`` entry of sparkwing.yaml.

Every invalid input is a one-line :class:`~sparkwing.errors.ConfigError`
naming the file, line and key. Nothing here imports PyYAML until a file
actually has to be parsed.
"""

from __future__ import annotations

from .guards import GUARD_FORMS, Guards, evaluate_guards, guard_matches, token_problem
from .profiles import (
    LAPTOP,
    SURFACES,
    Profile,
    laptop_profile,
    load_user_profiles,
    parse_profiles,
    redact,
)
from .project import (
    PROJECT_DIR,
    PROJECT_FILE,
    Defaults,
    PipelineEntry,
    ProjectConfig,
    RequiredPlugin,
    find_project,
    load_project,
    load_project_file,
)
from .resolve import (
    ResolvedProfile,
    Stores,
    known_profiles,
    local_only_from_env,
    open_stores,
    resolve_profile,
    resolve_record_dir,
)
from .triggers import cron_problem

__all__ = [
    "GUARD_FORMS",
    "LAPTOP",
    "PROJECT_DIR",
    "PROJECT_FILE",
    "SURFACES",
    "Defaults",
    "Guards",
    "PipelineEntry",
    "Profile",
    "ProjectConfig",
    "RequiredPlugin",
    "ResolvedProfile",
    "Stores",
    "cron_problem",
    "evaluate_guards",
    "find_project",
    "guard_matches",
    "known_profiles",
    "laptop_profile",
    "load_project",
    "load_project_file",
    "load_user_profiles",
    "local_only_from_env",
    "open_stores",
    "parse_profiles",
    "redact",
    "resolve_profile",
    "resolve_record_dir",
    "token_problem",
]
