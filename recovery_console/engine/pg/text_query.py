"""One SQL statement run on a server, its result as column names and rows of text (psql's text forms).

Every value comes back as the server's text form (or None for NULL), as psql shows it: bytea as `\\x…`,
timestamps in the session's style, numbers exactly. A read-only transaction is the default; it is
rolled back either way, unless the caller allows writes (then committed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recovery_console.errors import DatabaseError, UsageError

if TYPE_CHECKING:
    from psycopg.adapt import AdaptersMap

CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class QueryResult:
    """A statement's outcome: its columns and rows (empty for a statement returning none), the status
    the server gave (`SELECT 3`, `UPDATE 2`), and whether rows beyond `max_rows` were left out."""

    columns: list[str]
    rows: list[list[str | None]]
    status: str
    truncated: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"columns": self.columns, "rows": self.rows, "status": self.status, "truncated": self.truncated}


def _text_adapters() -> AdaptersMap:
    """Loaders that leave every value as the server's text."""
    from psycopg.adapt import AdaptersMap, Loader

    class AsText(Loader):
        def load(self, data: Any) -> str:
            return bytes(data).decode("utf-8", "replace")

    adapters = AdaptersMap()
    adapters.register_loader(0, AsText)  # the fallback for every type without a loader of its own: all of them
    return adapters


def run_text_query(conninfo: dict[str, str], sql: str, *, read_only: bool = True,
                   max_rows: int | None = None) -> QueryResult:
    """Run `sql` (one statement or several; the last one's result counts) on the server `conninfo` names."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    if not sql.strip():
        raise UsageError("The query is empty.", hint="Write an SQL statement, such as SELECT count(*) FROM a table.")
    if max_rows is not None and max_rows < 0:
        raise UsageError("The row limit must be 0 or more.")

    class TextContext:
        adapters = _text_adapters()
        connection = None

    try:
        conn = psycopg.connect(make_conninfo(**conninfo), connect_timeout=CONNECT_TIMEOUT, client_encoding="utf8",
                               application_name="recovery-console sandbox", context=TextContext())
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"Could not connect to the sandbox server: {str(exc).strip()}") from None
    with conn:
        conn.read_only = read_only
        try:
            with conn.cursor() as cur:
                cur.execute(sql.encode("utf-8"))
                while cur.nextset():  # several statements: the last one's result
                    pass
                columns = [column.name for column in cur.description or ()]
                rows: list[list[str | None]] = []
                truncated = False
                if cur.description is not None:
                    fetched = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows + 1)
                    truncated = max_rows is not None and len(fetched) > max_rows
                    rows = [list(row) for row in fetched[:max_rows]]
                status = cur.statusmessage or ""
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            conn.rollback()
            raise DatabaseError(f"The query tried to change the database: {str(exc).strip()}",
                                hint="Queries run in a read-only transaction; allow changes to run this one.") from None
        except psycopg.Error as exc:
            conn.rollback()
            first, _, rest = str(exc).strip().partition("\n")
            raise DatabaseError(f"The query failed: {first}", detail=rest.strip()) from None
        if read_only:
            conn.rollback()
        else:
            conn.commit()
    return QueryResult(columns, rows, status, truncated)
