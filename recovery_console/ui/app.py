"""Desktop entry point; the full console arrives with the GUI work."""

from __future__ import annotations


def run(profile: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication([])
    label = QLabel("Recovery Console — the desktop console is not built yet; use the `recovery-console` CLI.")
    label.setWindowTitle("Recovery Console")
    label.show()
    return app.exec()
