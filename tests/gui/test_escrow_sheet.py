"""The setup wizard's Generate: a grouped secret shown once with its QR code and escrow sheet; a typed grouped
secret with a mistyped group is named on the page before anything is tried (issue #18)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QWizard

from recovery_console.engine.state import grouped_secret
from recovery_console.ui.dialogs.escrow_dialog import EscrowSheetDialog
from recovery_console.ui.wizards.setup import SetupWizard
from tests.gui.test_setup_wizard import WAIT, click, type_into

pytestmark = pytest.mark.gui


@pytest.fixture
def wizard(qtbot, console, secret_service):
    w = SetupWizard(console)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.profile_page.keyring_status is not None, timeout=WAIT)
    yield w
    w.cancel_jobs()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)


def test_generate_fills_both_fields_and_shows_the_secret_once_with_its_sheet(qtbot, wizard, tmp_path):
    page = wizard.profile_page
    type_into(qtbot, page.name_edit, "prod")
    type_into(qtbot, page.url_edit, "postgresql://app:pw@127.0.0.1:5432/app")
    click(qtbot, page.generate_button)
    dialog = page.escrow_dialog
    assert isinstance(dialog, EscrowSheetDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    secret = page.secret_edit.text()
    assert page.repeat_edit.text() == secret and grouped_secret.problems(secret) == []
    assert [label.text() for label in dialog.group_labels] == secret.split("-")
    assert not dialog.qr_label.pixmap().isNull()
    assert "profile 'prod'" in dialog.opens_label.text() and "pw" not in dialog.opens_label.text()

    assert dialog.save_to(tmp_path / "sheet.html")
    html = (tmp_path / "sheet.html").read_text("utf-8")
    assert all(group in html for group in secret.split("-")) and "<svg" in html
    assert dialog.save_to(tmp_path / "sheet.pdf")
    assert (tmp_path / "sheet.pdf").read_bytes().startswith(b"%PDF-")
    assert "Saved to" in dialog.status_label.text()
    assert not dialog.save_to(tmp_path / "sheet.pdf")  # never replaced without being asked
    qtbot.waitUntil(lambda: dialog.error is not None and dialog.error.isVisible(), timeout=WAIT)
    dialog.error.close()
    dialog.reject()
    qtbot.waitUntil(lambda: wizard.button(QWizard.WizardButton.NextButton).isEnabled(), timeout=WAIT)


def test_a_typed_grouped_secret_is_checked_group_by_group(qtbot, wizard):
    page = wizard.profile_page
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    type_into(qtbot, page.name_edit, "prod")
    type_into(qtbot, page.url_edit, "postgresql://app@127.0.0.1:5432/app")
    secret = grouped_secret.generate()
    groups = secret.split("-")
    word = groups[3]
    groups[3] = word[:2] + ("A" if word[2] != "A" else "B") + word[3:]
    typo = " ".join(groups).lower()
    type_into(qtbot, page.secret_edit, typo)
    type_into(qtbot, page.repeat_edit, typo)
    assert "Group 4 of the secret" in page.mismatch.text()
    assert not next_button.isEnabled()

    typed = secret.replace("-", " ").lower()
    type_into(qtbot, page.secret_edit, typed)
    type_into(qtbot, page.repeat_edit, typed)
    assert page.mismatch.text() == ""
    qtbot.waitUntil(next_button.isEnabled, timeout=WAIT)
    assert page.validatePage()
    assert page.secret_edit.text() == secret  # kept as generated: the key it derives is the sheet's

    type_into(qtbot, page.secret_edit, "a plain legacy secret ✓")
    type_into(qtbot, page.repeat_edit, "a plain legacy secret ✓")
    qtbot.waitUntil(next_button.isEnabled, timeout=WAIT)


def test_the_windows_secret_prompt_names_a_mistyped_group_and_asks_again(qtbot, console):
    from PySide6.QtWidgets import QWidget

    from recovery_console.ui.jobs import JobRunner
    from recovery_console.ui.secrets import SecretBroker

    parent = QWidget()
    qtbot.addWidget(parent)
    broker = SecretBroker(console, JobRunner(), parent, lambda target: None)
    answers: list[str | None] = []
    broker.request(None, answers.append, "open the backup")
    secret = grouped_secret.generate()
    groups = secret.split("-")
    groups[12] = groups[12][:4] + ("A" if groups[12][4] != "A" else "B")
    first = broker.prompt
    assert first is not None
    first.setTextValue(" ".join(groups))
    first.accept()
    qtbot.waitUntil(lambda: broker.prompt is not None and broker.prompt is not first, timeout=WAIT)
    assert "Group 13 of the secret" in broker.prompt.labelText() and answers == []
    broker.prompt.setTextValue(secret.lower())
    broker.prompt.accept()
    qtbot.waitUntil(lambda: answers == [secret], timeout=WAIT)
