"""The forensic workbench window and its parts: tables, lazily paged rows, search."""
