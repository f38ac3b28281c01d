"""The strip under the backup browser with one progress panel per running job."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from recovery_console.ui.jobs import Job
from recovery_console.ui.progress_panel import ProgressPanel


class JobsArea(QFrame):
    """One progress panel per running job, under the browser; hidden when nothing runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobsArea")
        self.setAccessibleName("Running jobs")
        self.panels: dict[Job, QWidget] = {}
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(6, 4, 6, 4)
        self.hide()

    def track(self, job: Job, title: str) -> ProgressPanel:
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        label = QLabel(f"<b>{title}</b>")
        label.setAccessibleName("Job")
        panel = ProgressPanel()
        panel.setAccessibleName(f"Progress of {title}")
        panel.cancel_button.setAccessibleName(f"Cancel {title}")
        panel.attach(job)
        panel.phase.setText("Starting…")
        panel.bar.setRange(0, 0)
        box.addWidget(label)
        box.addWidget(panel)
        self.box.addWidget(holder)
        self.panels[job] = holder
        job.done.connect(lambda: self._remove(job))
        self.show()
        return panel

    def _remove(self, job: Job) -> None:
        holder = self.panels.pop(job, None)
        if holder is not None:
            holder.hide()
            holder.deleteLater()
        if not self.panels:
            self.hide()
