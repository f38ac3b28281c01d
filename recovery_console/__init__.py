"""Recovery Console: encrypted PostgreSQL backups you can trust on your worst day."""

__version__ = "0.1.0"
