"""The escrow sheet as a PDF: the engine's HTML (engine/escrow_sheet.py) with its QR code, laid out by Qt.

The CLI imports this module on first use, for a `.pdf` sheet; `html_pdf` starts an offscreen
QGuiApplication when none runs.
"""

from __future__ import annotations

from pathlib import Path

from recovery_console.engine.escrow_sheet import EscrowSheet, qr_png, sheet_html
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.errors import from_os_error
from recovery_console.ui.html_pdf import html_pdf

QR_RESOURCE = "escrow-qr.png"


def sheet_pdf(sheet: EscrowSheet) -> bytes:
    """The sheet as PDF bytes (A4, 15 mm margins)."""
    page = sheet_html(sheet, qr=f'<img src="{QR_RESOURCE}" width="200" height="200">')
    return html_pdf(page, f"Escrow sheet: {sheet.keyring_name}", {QR_RESOURCE: qr_png(sheet.secret)})


def write_sheet_pdf(sheet: EscrowSheet, path: Path, *, overwrite: bool = False) -> Path:
    """Write the PDF sheet (0600, through a temporary name) and return where."""
    data = sheet_pdf(sheet)
    try:
        with atomic_output(path, overwrite) as handle:
            handle.write(data)
    except OSError as exc:
        raise from_os_error("writing", str(path), exc) from exc
    return path
