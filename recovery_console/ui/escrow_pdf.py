"""The escrow sheet as a PDF: the engine's HTML (engine/escrow_sheet.py) laid out by Qt's QTextDocument.

Qt lives only here; the CLI imports this module on first use, for a `.pdf` sheet, and it starts an
offscreen QGuiApplication when none runs (fonts need one).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from recovery_console.engine.escrow_sheet import EscrowSheet, qr_png, sheet_html
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.errors import from_os_error

QR_RESOURCE = "escrow-qr.png"
RESOLUTION = 300


def _application() -> QGuiApplication:
    existing = QGuiApplication.instance()
    if isinstance(existing, QGuiApplication):
        return existing
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QGuiApplication([])


def sheet_pdf(sheet: EscrowSheet) -> bytes:
    """The sheet as PDF bytes (A4, 15 mm margins)."""
    _application()
    document = QTextDocument()
    image = QImage.fromData(QByteArray(qr_png(sheet.secret)))
    document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(QR_RESOURCE), image)
    document.setHtml(sheet_html(sheet, qr=f'<img src="{QR_RESOURCE}" width="200" height="200">'))
    buffer = QByteArray()
    device = QBuffer(buffer)
    device.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(device)
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(f"Escrow sheet: {sheet.keyring_name}")
    document.print_(writer)
    device.close()
    return bytes(buffer.data())


def write_sheet_pdf(sheet: EscrowSheet, path: Path, *, overwrite: bool = False) -> Path:
    """Write the PDF sheet (0600, through a temporary name) and return where."""
    data = sheet_pdf(sheet)
    try:
        with atomic_output(path, overwrite) as handle:
            handle.write(data)
    except OSError as exc:
        raise from_os_error("writing", str(path), exc) from exc
    return path
