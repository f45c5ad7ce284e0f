"""Store contracts, records and the built-in filesystem stores."""
