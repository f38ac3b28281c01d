"""Dialogs that run one engine task and show its outcome."""
