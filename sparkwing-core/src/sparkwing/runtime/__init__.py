"""What a running node uses: its Context, commands, logging, secrets and run information."""
