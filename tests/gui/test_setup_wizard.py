"""The setup wizard, driven end to end with real clicks and keys (pytest-qt, offscreen).

The keyring is the real Secret Service of tests/fixtures/keyring.py (gnome-keyring on a private
D-Bus bus); the database is the real PostgreSQL 15 of tests/fixtures/postgres.py; the target is a
real local folder.
"""

from __future__ import annotations

import html
import re

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QTextEdit,
    QWidget,
    QWizard,
)

from recovery_console.engine.state.profiles import DB_PASSWORD, DIRECT_PASSWORD, INSTANCE_SECRET
from recovery_console.engine.state.target_options import check_bucket_name
from recovery_console.errors import UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.wizards.setup import SetupWizard

pytestmark = pytest.mark.gui

WAIT = 30_000
SECRET = "a long instance secret ✓ 42"


def click(qtbot, button: QAbstractButton, timeout: int = WAIT) -> None:
    qtbot.waitUntil(lambda: button.isVisible() and button.isEnabled(), timeout=timeout)
    # A check box or radio button reacts on its indicator and text, not on the empty space a layout adds.
    if isinstance(button, (QCheckBox, QRadioButton)):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    else:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def next_page(qtbot, wizard: QWizard, expected_id: int) -> None:
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.currentId() == expected_id, timeout=WAIT)


def type_text(qtbot, widget, text: str) -> None:
    """Real key events; QTest only maps ASCII, so other characters go as key events carrying their text."""
    for char in text:
        if char.isascii():
            qtbot.keyClicks(widget, char)
        else:
            for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                QApplication.sendEvent(widget, QKeyEvent(kind, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier,
                                                         char))


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.clear()
    type_text(qtbot, edit, text)
    assert edit.text() == text


@pytest.fixture
def wizard(qtbot, console):
    w = SetupWizard(console)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    for box in w.error_boxes:
        box.close()
    w.cancel_jobs()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)


def fill_profile(qtbot, wizard: SetupWizard, name: str, url: str, secret: str = SECRET) -> None:
    page = wizard.profile_page
    type_into(qtbot, page.name_edit, name)
    type_into(qtbot, page.url_edit, url)
    type_into(qtbot, page.secret_edit, secret)
    type_into(qtbot, page.repeat_edit, secret)


def test_setup_with_a_local_target_saves_profile_mode_target_and_secret(qtbot, secret_service, pg15, wizard, console,
                                                                        tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    page = wizard.profile_page
    # Page 1: the keyring backend that will hold the secret is shown.
    qtbot.waitUntil(lambda: page.keyring_status is not None, timeout=WAIT)
    assert page.keyring_status.usable and page.keyring_status.secure
    assert "SecretService" in page.keyring_label.text()
    fill_profile(qtbot, wizard, "prod", pg15.dsn("postgres"), SECRET)
    type_into(qtbot, page.repeat_edit, SECRET + "x")
    assert "differ" in page.mismatch.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    type_into(qtbot, page.repeat_edit, SECRET)
    next_page(qtbot, wizard, SetupWizard.CONNECTION)

    # Page 2: Direct needs the acknowledgement; Test connection shows the server and the tools.
    conn = wizard.connection_page
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    click(qtbot, conn.direct_radio)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    click(qtbot, conn.test_button)
    qtbot.waitUntil(lambda: conn.report is not None, timeout=WAIT)
    text = conn.result_view.toPlainText()
    assert conn.report.ok and conn.report.server_major == 15
    assert "PostgreSQL 15." in text and "pg_dump:" in text and "pg_restore:" in text
    assert not conn.report.warnings or all("pooler" not in w.lower() for w in conn.report.warnings)
    click(qtbot, conn.ack_check)
    assert conn.ack_check.isChecked()
    next_page(qtbot, wizard, SetupWizard.TARGET)

    # Page 3: a local target, tested for real (list, write, read, delete).
    target = wizard.target_page
    assert target.kind == "local"
    assert target.name_edit.text() == "prod-backups"
    type_into(qtbot, target.name_edit, "vault")
    type_into(qtbot, target.fields.local_path, str(folder))
    target.quota_spin.setFocus()
    target.quota_spin.lineEdit().selectAll()
    qtbot.keyClicks(target.quota_spin.lineEdit(), "2")
    assert target.quota() == 2 << 30
    click(qtbot, target.test_button)
    qtbot.waitUntil(lambda: target.report is not None, timeout=WAIT)
    steps = [(target.steps.topLevelItem(i).text(0), target.steps.topLevelItem(i).text(1))
             for i in range(target.steps.topLevelItemCount())]
    assert steps == [("list", "PASS"), ("write", "PASS"), ("read", "PASS"), ("delete", "PASS")]
    assert list(folder.rglob("*")) in ([], [folder / "backups"])  # the probe object is gone
    next_page(qtbot, wizard, SetupWizard.SUMMARY)

    # Page 4: the summary; nothing saved yet.
    summary = wizard.summary_page.view.toPlainText()
    for expected in ("prod", "Direct", "vault", str(folder), "2.0 GiB", "Nothing has been saved yet",
                     f"set ({len(SECRET)} characters)"):
        assert expected in summary, expected
    assert SECRET not in summary
    assert console.profiles.store.load() == {} and console.targets.load() == {}

    with qtbot.waitSignal(wizard.saved, timeout=WAIT):
        click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)
    assert wizard.result() == QWizard.DialogCode.Accepted

    profile = console.profiles.store.get("prod")
    assert profile.mode is ConnectionMode.DIRECT and profile.direct_acknowledged and profile.declared
    assert profile.target == "vault" and profile.database_url == pg15.dsn("postgres")
    assert profile.stored_secrets == (INSTANCE_SECRET,)
    assert console.profiles.instance_secret("prod") == SECRET  # in the real Secret Service
    config = console.targets.get("vault")
    assert (config.kind, config.options, config.quota) == ("local", {"path": str(folder)}, 2 << 30)
    assert SECRET not in console.profiles.store.file.read_text()
    assert any(e.action == "profile.create" and e.result == "ok" for e in console.audit.entries())


def test_pool_mode_keeps_the_direct_url_and_its_password_in_the_keyring(qtbot, secret_service, pgbouncer, pg15,
                                                                          wizard, console, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    fill_profile(qtbot, wizard, "pooled", pgbouncer.url.replace("postgres@", "postgres:pooled-pw@"))
    next_page(qtbot, wizard, SetupWizard.CONNECTION)
    conn = wizard.connection_page
    # Declared direct, the test connection sees the pooler and says so (a warning, not a block).
    click(qtbot, conn.direct_radio)
    click(qtbot, conn.test_button)
    qtbot.waitUntil(lambda: conn.report is not None, timeout=WAIT)
    assert any("PgBouncer" in w or "pooling" in w for w in conn.report.warnings)
    assert "PgBouncer" in conn.result_view.toPlainText() or "pooling" in conn.result_view.toPlainText()
    # Pool mode with the pooled URL as "direct" URL is refused in the one error style.
    click(qtbot, conn.pool_radio)
    type_into(qtbot, conn.direct_url_edit, pgbouncer.url)
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.last_error is not None and wizard.last_error.isVisible(), timeout=WAIT)
    assert "same as the pooled URL" in wizard.last_error.text()
    assert wizard.last_error.informativeText().startswith("What to do next:")
    wizard.last_error.accept()
    assert wizard.currentId() == SetupWizard.CONNECTION
    type_into(qtbot, conn.direct_url_edit, pg15.dsn("postgres").replace("postgres@", "postgres:direct-pw@"))
    conn.report = None
    click(qtbot, conn.test_button)
    qtbot.waitUntil(lambda: conn.report is not None, timeout=WAIT)
    assert conn.report.ok and conn.report.url.endswith(f"{pg15.port}/postgres")
    next_page(qtbot, wizard, SetupWizard.TARGET)
    type_into(qtbot, wizard.target_page.fields.local_path, str(folder))
    next_page(qtbot, wizard, SetupWizard.SUMMARY)
    summary = wizard.summary_page.view.toPlainText()
    assert "Pool" in summary and "pooled-pw" not in summary and "direct-pw" not in summary
    with qtbot.waitSignal(wizard.saved, timeout=WAIT):
        click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    profile = console.profiles.store.get("pooled")
    assert profile.mode is ConnectionMode.POOL and profile.direct_url == pg15.dsn("postgres")
    assert set(profile.stored_secrets) == {INSTANCE_SECRET, DB_PASSWORD, DIRECT_PASSWORD}
    assert console.profiles.dump_password(profile) == "direct-pw"
    saved = console.profiles.store.file.read_text()
    assert "pooled-pw" not in saved and "direct-pw" not in saved


def test_no_usable_keyring_refuses_and_explains_how_to_fix(qtbot, no_keyring, wizard, console):
    page = wizard.profile_page
    qtbot.waitUntil(lambda: page.keyring_status is not None, timeout=WAIT)
    fill_profile(qtbot, wizard, "prod", "postgresql://postgres@127.0.0.1:5432/postgres")
    assert not page.keyring_status.usable
    text = page.keyring_label.text()
    assert "cannot be stored" in text and "How to fix it" in text and "Secret Service" in text
    assert not page.isComplete()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_existing_profile_name_is_refused_in_the_error_style(qtbot, secret_service, local_target, wizard, console):
    console.profiles.create("prod", "postgresql://postgres@127.0.0.1:5432/postgres", target=local_target)
    qtbot.waitUntil(lambda: wizard.profile_page.keyring_status is not None, timeout=WAIT)
    fill_profile(qtbot, wizard, "prod", "postgresql://postgres@127.0.0.1:5432/postgres")
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.last_error is not None and wizard.last_error.isVisible(), timeout=WAIT)
    assert "already exists" in wizard.last_error.text()
    assert wizard.currentId() == SetupWizard.PROFILE


def test_existing_target_can_be_reused(qtbot, secret_service, local_target, wizard, console):
    qtbot.waitUntil(lambda: wizard.profile_page.keyring_status is not None, timeout=WAIT)
    fill_profile(qtbot, wizard, "second", "postgresql://postgres@127.0.0.1:5432/postgres")
    next_page(qtbot, wizard, SetupWizard.CONNECTION)
    click(qtbot, wizard.connection_page.direct_radio)
    click(qtbot, wizard.connection_page.ack_check)
    next_page(qtbot, wizard, SetupWizard.TARGET)
    target = wizard.target_page
    target.existing_combo.setFocus()
    index = target.existing_combo.findData(local_target)
    assert index > 0
    target.existing_combo.setCurrentIndex(index)
    assert not target.new_box.isEnabled()
    next_page(qtbot, wizard, SetupWizard.SUMMARY)
    assert "already configured" in wizard.summary_page.view.toPlainText()
    with qtbot.waitSignal(wizard.saved, timeout=WAIT):
        click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    assert console.profiles.store.get("second").target == local_target
    assert list(console.targets.load()) == [local_target]


def test_keyboard_only_mnemonics_and_tab_order(qtbot, secret_service, wizard, console):
    qtbot.waitUntil(lambda: wizard.profile_page.keyring_status is not None, timeout=WAIT)
    wizard.activateWindow()
    qtbot.waitUntil(lambda: wizard.isActiveWindow(), timeout=WAIT)
    page = wizard.profile_page
    qtbot.keyClick(wizard, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)  # Profile na&me
    qtbot.waitUntil(lambda: page.name_edit.hasFocus(), timeout=WAIT)
    qtbot.keyClicks(page.name_edit, "kb")
    qtbot.keyClick(page.name_edit, Qt.Key.Key_Tab)
    assert page.url_edit.hasFocus()
    qtbot.keyClicks(page.url_edit, "postgresql://postgres@127.0.0.1:5432/postgres")
    qtbot.keyClick(page.url_edit, Qt.Key.Key_Tab)
    assert page.secret_edit.hasFocus()
    type_text(qtbot, page.secret_edit, SECRET)
    qtbot.keyClick(page.secret_edit, Qt.Key.Key_Tab)
    assert page.repeat_edit.hasFocus()
    type_text(qtbot, page.repeat_edit, SECRET)
    qtbot.waitUntil(lambda: wizard.button(QWizard.WizardButton.NextButton).isEnabled(), timeout=WAIT)
    qtbot.keyClick(wizard, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)  # &Next
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.CONNECTION, timeout=WAIT)
    conn = wizard.connection_page
    qtbot.keyClick(wizard, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)  # &Direct (an animated click)
    qtbot.waitUntil(conn.direct_radio.isChecked, timeout=WAIT)
    qtbot.keyClick(wizard, Qt.Key.Key_I, Qt.KeyboardModifier.AltModifier)  # &I confirm
    qtbot.waitUntil(conn.ack_check.isChecked, timeout=WAIT)
    qtbot.waitUntil(wizard.button(QWizard.WizardButton.NextButton).isEnabled, timeout=WAIT)
    qtbot.keyClick(wizard, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.TARGET, timeout=WAIT)
    qtbot.keyClick(wizard, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)  # &Folder
    qtbot.waitUntil(wizard.target_page.fields.local_path.hasFocus, timeout=WAIT)


def test_mnemonics_are_unique_on_every_page(qtbot, console):
    """Alt+letter must reach one control: no two visible controls of a page share a mnemonic with each other
    or with the wizard's own buttons."""
    from recovery_console.ui.wizards.extract import ExtractWizard
    from recovery_console.ui.wizards.restore import RestoreWizard
    from recovery_console.ui.wizards.restore_set_docs import set_screenshot_pages

    for cls in (SetupWizard, RestoreWizard, ExtractWizard):
        wizard = cls(console)
        qtbot.addWidget(wizard)
        if isinstance(wizard, RestoreWizard):  # a set's pages fill in per member: a folder member's choice too
            set_screenshot_pages(wizard)
        buttons = {mnemonic(wizard.button(b).text()) for b in (QWizard.WizardButton.BackButton,
                                                              QWizard.WizardButton.NextButton)}
        for page_id in wizard.pageIds():
            page = wizard.page(page_id)
            groups = [page]
            stack = getattr(page, "fields", None)
            if stack is not None:  # the storage page shows one kind's fields at a time
                groups = [stack.widget(i) for i in range(stack.count())]
            for group in groups:
                seen: dict[str, str] = {}
                owners = [w for w in page.findChildren(QWidget) if stack is None or not stack.isAncestorOf(w)
                          or group.isAncestorOf(w)]
                for widget in owners:
                    text = widget.text() if isinstance(widget, QAbstractButton) else (
                        widget.text() if isinstance(widget, QLabel) and widget.buddy() is not None else "")
                    key = mnemonic(text)
                    if not key:
                        continue
                    assert key not in seen, f"{cls.__name__} {page.title()}: {text!r} and {seen[key]!r}"
                    if page_id != wizard.startId() and widget.parent() is not None:
                        assert key not in buttons, f"{cls.__name__} {page.title()}: {text!r}"
                    seen[key] = text


def mnemonic(text: str) -> str:
    match = re.search(r"&([^&])", text or "")
    return match.group(1).lower() if match else ""


INTERACTIVE = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView, QPlainTextEdit, QTextEdit)


def interactive_controls(widget):
    """The controls a user can reach, not the parts Qt builds inside them (a spin box's line edit, …)."""
    for child in widget.findChildren(QWidget):
        if not isinstance(child, INTERACTIVE):
            continue
        if any(isinstance(a, (QAbstractSpinBox, QComboBox, QAbstractItemView)) for a in ancestors(child, widget)):
            continue
        yield child


def ancestors(child, top):
    parent = child.parentWidget()
    while parent is not None and parent is not top:
        yield parent
        parent = parent.parentWidget()


def test_every_control_has_an_accessible_name_and_pages_render_for_docs(qtbot, console):
    wizard = SetupWizard(console)
    qtbot.addWidget(wizard)
    pages = wizard.screenshot_pages()
    assert [title for title, _ in pages] == ["Profile", "Connection mode", "Storage target", "Summary"]
    for title, page in pages:
        assert not page.grab().isNull()
        for control in interactive_controls(page):
            assert control.accessibleName(), f"{title}: {type(control).__name__} {getattr(control, 'text', str)()!r}"
    assert "prod" in wizard.summary_page.view.toPlainText()


@pytest.fixture
def target_wizard(qtbot, console):
    """A setup wizard opened on its storage target page (no keyring or database needed)."""
    w = SetupWizard(console)
    qtbot.addWidget(w)
    w.setStartId(SetupWizard.TARGET)
    w.show()
    qtbot.waitExposed(w)
    assert w.currentId() == SetupWizard.TARGET
    yield w
    for box in w.error_boxes:
        box.close()
    w.cancel_jobs()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)


def test_an_invalid_bucket_name_shows_the_engines_message(qtbot, target_wizard):
    """The wizard has no bucket rule of its own: it shows the engine's refusal, word for word. ("S3://…" in
    capitals is a case the wizard's former copy of the rule let through.)"""
    typed = "S3://my-bucket"
    with pytest.raises(UsageError) as refused:
        check_bucket_name(typed)
    page = target_wizard.target_page
    choose_kind(qtbot, page, "s3")
    type_into(qtbot, page.fields.s3_bucket, typed)
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: target_wizard.last_error is not None and target_wizard.last_error.isVisible(),
                    timeout=WAIT)
    assert target_wizard.last_error.text() == refused.value.message
    assert target_wizard.last_error.informativeText() == f"What to do next: {refused.value.hint}"
    shown = html.unescape(page.test_label.text())  # the page says it too, next to the Test button
    assert refused.value.message in shown and refused.value.hint in shown
    assert page.report is None and page.tested() is None and not page.testing
    assert not target_wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_a_missing_local_folder_is_refused_with_the_engines_message(qtbot, target_wizard, tmp_path):
    missing = tmp_path / "no-such-folder"
    page = target_wizard.target_page
    type_into(qtbot, page.fields.local_path, str(missing))
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: target_wizard.last_error is not None and target_wizard.last_error.isVisible(),
                    timeout=WAIT)
    assert target_wizard.last_error.text() == f"{missing} is not an existing folder."
    assert page.report is None and not missing.exists()


# -- remote targets, against the real servers of tests/fixtures/ ----------------------------------


def to_target_page(qtbot, wizard: SetupWizard, name: str) -> None:
    qtbot.waitUntil(lambda: wizard.profile_page.keyring_status is not None, timeout=WAIT)
    fill_profile(qtbot, wizard, name, "postgresql://postgres@127.0.0.1:5432/postgres")
    next_page(qtbot, wizard, SetupWizard.CONNECTION)
    click(qtbot, wizard.connection_page.direct_radio)
    click(qtbot, wizard.connection_page.ack_check)
    next_page(qtbot, wizard, SetupWizard.TARGET)


def choose_kind(qtbot, page, kind: str) -> None:
    page.kind_combo.setFocus()
    while page.kind != kind:
        qtbot.keyClick(page.kind_combo, Qt.Key.Key_Down)


def step_results(page) -> list[tuple[str, str]]:
    return [(page.steps.topLevelItem(i).text(0), page.steps.topLevelItem(i).text(1))
            for i in range(page.steps.topLevelItemCount())]


def finish(qtbot, wizard: SetupWizard) -> None:
    next_page(qtbot, wizard, SetupWizard.SUMMARY)
    with qtbot.waitSignal(wizard.saved, timeout=WAIT):
        click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))


def test_sftp_target_confirms_the_host_key_first(qtbot, secret_service, sftp_server, sftp_users, sftp_dir, wizard,
                                                  console):
    user = sftp_users.password_user
    to_target_page(qtbot, wizard, "remote")
    page = wizard.target_page
    choose_kind(qtbot, page, "sftp")
    type_into(qtbot, page.name_edit, "offsite")
    type_into(qtbot, page.fields.sftp_host, sftp_server.host)
    page.fields.sftp_port.setValue(sftp_server.port)
    type_into(qtbot, page.fields.sftp_user, user.name)
    type_into(qtbot, page.fields.sftp_dir, str(sftp_dir))
    type_into(qtbot, page.fields.sftp_password, user.password)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # remote: must pass the test first

    # Refusing the host key: nothing is sent, the test does not pass.
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.host_key_box is not None and page.host_key_box.isVisible(), timeout=WAIT)
    box = page.host_key_box
    assert sftp_server.fingerprint in box.text() and sftp_server.host_key_type in box.text()
    click(qtbot, next(b for b in box.buttons() if "Do not trust" in b.text().replace("&", "")))
    qtbot.waitUntil(lambda: "not confirmed" in page.test_label.text(), timeout=WAIT)
    assert page.report is None and page.host_key is None
    assert list(sftp_dir.iterdir()) == []

    # Trusting it: the round trip runs and passes; the fingerprint is pinned in the saved target.
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.host_key_box is not None and page.host_key_box.isVisible(), timeout=WAIT)
    click(qtbot, next(b for b in page.host_key_box.buttons() if "Trust this" in b.text().replace("&", "")))
    qtbot.waitUntil(lambda: page.report is not None, timeout=WAIT)
    assert step_results(page) == [("list", "PASS"), ("write", "PASS"), ("read", "PASS"), ("delete", "PASS")]
    assert sftp_server.fingerprint in page.fields.host_key_label.text()
    # Changing a setting invalidates the test.
    type_into(qtbot, page.fields.sftp_user, user.name + "x")
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    type_into(qtbot, page.fields.sftp_user, user.name)
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.tested() is not None, timeout=WAIT)
    finish(qtbot, wizard)
    config = console.targets.get("offsite")
    assert config.options["host_key_fingerprint"] == sftp_server.fingerprint
    assert config.options["auth"] == "password" and user.password not in console.targets.file.read_text()
    assert console.secrets.get("target:offsite", "password") == user.password
    assert console.profiles.store.get("remote").target == "offsite"


def test_sftp_wrong_password_shows_the_failing_step(qtbot, secret_service, sftp_server, sftp_users, sftp_dir, wizard,
                                                    console):
    to_target_page(qtbot, wizard, "remote")
    page = wizard.target_page
    choose_kind(qtbot, page, "sftp")
    type_into(qtbot, page.fields.sftp_host, sftp_server.host)
    page.fields.sftp_port.setValue(sftp_server.port)
    type_into(qtbot, page.fields.sftp_user, sftp_users.password_user.name)
    type_into(qtbot, page.fields.sftp_dir, str(sftp_dir))
    type_into(qtbot, page.fields.sftp_password, "wrong password")
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.host_key_box is not None and page.host_key_box.isVisible(), timeout=WAIT)
    click(qtbot, next(b for b in page.host_key_box.buttons() if "Trust this" in b.text().replace("&", "")))
    qtbot.waitUntil(lambda: page.report is not None, timeout=WAIT)
    results = step_results(page)
    assert results[0] == ("list", "FAIL") and len(results) == 1
    assert page.steps.topLevelItem(0).text(2)  # the cause
    assert "does NOT work" in page.test_label.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_s3_target(qtbot, secret_service, rclone_s3, s3_bucket, wizard, console):
    to_target_page(qtbot, wizard, "cloud")
    page = wizard.target_page
    choose_kind(qtbot, page, "s3")
    type_into(qtbot, page.name_edit, "bucket")
    type_into(qtbot, page.fields.s3_bucket, s3_bucket)
    type_into(qtbot, page.fields.s3_endpoint, rclone_s3.endpoint_url)
    type_into(qtbot, page.fields.s3_region, "us-east-1")
    type_into(qtbot, page.fields.s3_key_id, rclone_s3.access_key)
    type_into(qtbot, page.fields.s3_secret, rclone_s3.secret_key)
    click(qtbot, page.fields.s3_tls)  # the test server talks plain HTTP
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.report is not None, timeout=WAIT)
    assert step_results(page) == [("list", "PASS"), ("write", "PASS"), ("read", "PASS"), ("delete", "PASS")]
    finish(qtbot, wizard)
    config = console.targets.get("bucket")
    assert (config.options["bucket"], config.options["access_key_id"]) == (s3_bucket, rclone_s3.access_key)
    assert console.secrets.get("target:bucket", "secret_access_key") == rclone_s3.secret_key


def test_smb_target(qtbot, secret_service, smb_server, smb_dir, wizard, console):
    to_target_page(qtbot, wizard, "nas")
    page = wizard.target_page
    choose_kind(qtbot, page, "smb")
    type_into(qtbot, page.name_edit, "share")
    type_into(qtbot, page.fields.smb_host, smb_server.host)
    page.fields.smb_port.setValue(smb_server.port)
    type_into(qtbot, page.fields.smb_share, smb_dir.share)
    type_into(qtbot, page.fields.smb_user, smb_server.user)
    type_into(qtbot, page.fields.smb_dir, smb_dir.directory)
    type_into(qtbot, page.fields.smb_password, smb_server.password)
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.report is not None, timeout=WAIT)
    assert step_results(page) == [("list", "PASS"), ("write", "PASS"), ("read", "PASS"), ("delete", "PASS")]
    finish(qtbot, wizard)
    config = console.targets.get("share")
    assert config.options["share"] == smb_dir.share and config.options["port"] == smb_server.port
    assert console.secrets.get("target:share", "password") == smb_server.password


def test_sftp_private_key_with_passphrase(qtbot, secret_service, sftp_server, sftp_users, sftp_dir, wizard, console):
    """The engine reads and unlocks the key file before anything connects; without its passphrase it says so and
    no host key is even fetched."""
    user = sftp_users.key_user
    to_target_page(qtbot, wizard, "keyed")
    page = wizard.target_page
    choose_kind(qtbot, page, "sftp")
    type_into(qtbot, page.name_edit, "keyed-sftp")
    type_into(qtbot, page.fields.sftp_host, sftp_server.host)
    page.fields.sftp_port.setValue(sftp_server.port)
    type_into(qtbot, page.fields.sftp_user, user.name)
    type_into(qtbot, page.fields.sftp_dir, str(sftp_dir))
    click(qtbot, page.fields.sftp_key_radio)
    type_into(qtbot, page.fields.sftp_key_file, str(user.key_files["rsa"]))
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: wizard.last_error is not None and wizard.last_error.isVisible(), timeout=WAIT)
    assert "protected by a passphrase" in wizard.last_error.text()
    assert "protected by a passphrase" in page.test_label.text()
    assert page.host_key_box is None and page.host_key is None and page.report is None
    wizard.last_error.accept()

    type_into(qtbot, page.fields.sftp_passphrase, user.rsa_passphrase)
    click(qtbot, page.test_button)
    qtbot.waitUntil(lambda: page.host_key_box is not None and page.host_key_box.isVisible(), timeout=WAIT)
    click(qtbot, next(b for b in page.host_key_box.buttons() if "Trust this" in b.text().replace("&", "")))
    qtbot.waitUntil(lambda: page.tested() is not None, timeout=WAIT)
    assert step_results(page) == [("list", "PASS"), ("write", "PASS"), ("read", "PASS"), ("delete", "PASS")]
    finish(qtbot, wizard)
    config = console.targets.get("keyed-sftp")
    assert config.options["auth"] == "key" and config.options["host_key_fingerprint"] == sftp_server.fingerprint
    assert console.secrets.get("target:keyed-sftp", "private_key") == user.rsa_key
    assert console.secrets.get("target:keyed-sftp", "passphrase") == user.rsa_passphrase
    assert user.rsa_passphrase not in console.targets.file.read_text()
