"""The escrow sheet of a generated instance secret: to print and lock away (docs/SECRETS.md).

The one file this program writes that holds a secret, on purpose and only when asked: the secret
as numbered groups and as a QR code, the keyring name, what the secret opens and the date. Built
here as HTML; the PDF is the same HTML laid out by Qt (ui/escrow_pdf.py), so the engine stays Qt-free.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path

import segno

from recovery_console.engine.state import grouped_secret
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.keyring_store import KeyringStatus
from recovery_console.engine.state.profiles import Profiles
from recovery_console.engine.who import user_at_host, utc_now
from recovery_console.errors import from_os_error
from recovery_console.models.profile import Profile

QR_ERROR_LEVEL = "m"


@dataclass(frozen=True)
class EscrowSheet:
    """What the sheet shows; `opens` says in words which backups need the secret."""

    keyring_name: str
    secret: str
    created: str
    created_by: str
    opens: str

    @property
    def groups(self) -> list[str]:
        return self.secret.split(grouped_secret.SEPARATOR)


def generate_instance_secret(profiles: Profiles, name: str, *,
                             replace_existing: bool = False) -> tuple[EscrowSheet, KeyringStatus]:
    """A new 256-bit grouped secret stored as `name`'s instance secret (audited there), with its sheet."""
    secret = grouped_secret.generate()
    status = profiles.set_instance_secret(name, secret, replace_existing=replace_existing)
    profile = profiles.store.load().get(name)
    return EscrowSheet(name, secret, utc_now(), user_at_host(), describe_use(name, profile)), status


def describe_use(keyring_name: str, profile: Profile | None) -> str:
    """What the secret opens, in words for the sheet."""
    if profile is None:
        return (f"Backups made with the instance secret kept under the keyring name '{keyring_name}' "
                "(no profile of that name exists yet).")
    where = f" on target '{profile.target}'" if profile.target else ""
    return (f"The backups of profile '{profile.name}' (database {profile.database_url}){where}, "
            "made since this secret was stored.")


def qr_svg(secret: str) -> str:
    """The secret as a QR code, an inline SVG element."""
    return str(segno.make(secret, error=QR_ERROR_LEVEL, micro=False).svg_inline(scale=5, border=4))


def qr_png(secret: str, scale: int = 10) -> bytes:
    """The secret as a QR code, a PNG image (for the PDF, whose layout does not draw SVG)."""
    buffer = io.BytesIO()
    segno.make(secret, error=QR_ERROR_LEVEL, micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def sheet_html(sheet: EscrowSheet, qr: str | None = None) -> str:
    """The whole sheet as one HTML page; `qr` replaces the inline SVG code (the PDF passes an image tag)."""
    def e(text: str) -> str:
        return html.escape(text, quote=False)

    cells = "".join(f"<td><small>{n}</small><br><tt><big><b>{e(group)}</b></big></tt></td>"
                    + ("</tr><tr>" if n % 5 == 0 else "")
                    for n, group in enumerate(sheet.groups, 1))
    code = qr if qr is not None else qr_svg(sheet.secret)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Escrow sheet: {e(sheet.keyring_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{padding:0.4em 1em;text-align:center}}
tt{{font-size:1.4em;letter-spacing:0.1em}} .warn{{border:2px solid #000;padding:0.6em}}</style></head>
<body>
<h1>Recovery Console: instance secret</h1>
<p class="warn"><b>Confidential.</b> Anyone holding this sheet and a backup can read that backup.
Keep it locked away; without this secret (or another copy of it) the backups below cannot be opened.</p>
<table>
<tr><th align="left">Keyring name</th><td align="left">{e(sheet.keyring_name)}</td></tr>
<tr><th align="left">Opens</th><td align="left">{e(sheet.opens)}</td></tr>
<tr><th align="left">Created</th><td align="left">{e(sheet.created)} by {e(sheet.created_by)}</td></tr>
</table>
<h2>The secret</h2>
<table><tr>{cells}</tr></table>
<p>Type the thirteen groups in order (spaces or dashes between them, any letter case). The last character
of each group is a check: a mistyped group is named before the secret is tried.</p>
<p>{code}</p>
</body></html>
"""


def write_sheet_html(sheet: EscrowSheet, path: Path, *, overwrite: bool = False) -> Path:
    """Write the sheet (0600, through a temporary name) and return where."""
    try:
        with atomic_output(path, overwrite) as handle:
            handle.write(sheet_html(sheet).encode("utf-8"))
    except OSError as exc:
        raise from_os_error("writing", str(path), exc) from exc
    return path
