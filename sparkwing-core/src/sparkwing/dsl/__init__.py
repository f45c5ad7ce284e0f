"""The authoring API as pure data: plans, jobs, work, steps, refs and inputs (no I/O)."""
