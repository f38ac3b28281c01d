"""HTML laid out as a PDF by Qt's own QTextDocument and QPdfWriter (A4): reports and sheets the engine writes as HTML.

Qt lives only here; the CLI imports this module on first use, for a `.pdf` output, and it starts an
offscreen QGuiApplication when none runs (fonts need one), so it also works with no display.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import QApplication

RESOLUTION = 300


def gui_application() -> QGuiApplication:
    """The running application, or an offscreen one made now where there is no display.

    A QApplication, not a bare QGuiApplication: a process that later opens a window (the GUI, a test
    run) needs the widgets' kind, and Qt allows only one application per process."""
    existing = QGuiApplication.instance()
    if isinstance(existing, QGuiApplication):
        return existing
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QApplication([])


def html_pdf(page: str, title: str, images: dict[str, bytes] | None = None) -> bytes:
    """`page` as PDF bytes (A4, 15 mm margins); `images` maps an `<img src>` name to PNG bytes."""
    gui_application()
    document = QTextDocument()
    for name, png in (images or {}).items():
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), QImage.fromData(QByteArray(png)))
    document.setHtml(page)
    buffer = QByteArray()
    device = QBuffer(buffer)
    device.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(device)
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(title)
    document.print_(writer)
    device.close()
    return bytes(buffer.data())
