"""The parts the main window is composed of: sidebar, backup browser, details pane, audit view."""
