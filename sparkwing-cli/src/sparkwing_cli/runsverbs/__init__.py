"""The verbs of ``sparkwing runs``, one module per family (imported lazily)."""
