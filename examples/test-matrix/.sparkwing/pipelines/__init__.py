"""Pipeline modules of this example (see ../sparkwing.yaml)."""
