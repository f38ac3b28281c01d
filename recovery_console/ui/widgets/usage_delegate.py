"""A second, muted line under a target's name in the targets list: how much it holds against its quota."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from recovery_console.formatting import format_bytes

USAGE_ROLE = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex


def usage_text(used: int, quota: int | None) -> str:
    """'1.2 GiB of 5.0 GiB (24%)', or 'holds 1.2 GiB' without a quota (short: the sidebar is narrow)."""
    if not quota:
        return f"holds {format_bytes(used)}"
    return f"{format_bytes(used)} of {format_bytes(quota)} ({used * 100 // quota}%)"


class UsageDelegate(QStyledItemDelegate):
    """Paints the item as usual on its first line and its USAGE_ROLE text on a second line below the name."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        size = super().sizeHint(option, index)
        if index.data(USAGE_ROLE):
            size.setHeight(size.height() + option.fontMetrics.height())
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        text = index.data(USAGE_ROLE)
        if not text:
            super().paint(painter, option, index)
            return
        line = option.fontMetrics.height()
        whole = QStyleOptionViewItem(option)
        self.initStyleOption(whole, index)
        whole.text = ""
        whole.icon = QIcon()
        style = whole.widget.style() if whole.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, whole, painter, whole.widget)  # background only
        first = QStyleOptionViewItem(option)
        first.rect = option.rect.adjusted(0, 0, 0, -line)
        super().paint(painter, first, index)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        indent = option.decorationSize.width() + 2 * style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 4
        painter.save()
        painter.setPen(option.palette.color(role))
        where = option.rect.adjusted(indent, option.rect.height() - line - 2, -4, 0)
        shown = option.fontMetrics.elidedText(str(text), Qt.TextElideMode.ElideRight, where.width())
        painter.drawText(where, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, shown)
        painter.restore()
