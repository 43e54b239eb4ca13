"""The SQLite backend's tables, as numbered migrations."""

from __future__ import annotations

from framework.storage._engine.item_format import split_body

__all__ = ["MIGRATIONS", "RUN_TABLES", "SCHEMA_VERSION", "item_part"]

# Migration N (1-based) brings a database from schema version N-1 to N. Never edit one that
# has shipped; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            agent_id TEXT,
            graph_id TEXT,
            created_key TEXT NOT NULL,
            body BLOB NOT NULL
        )""",
        "CREATE INDEX runs_by_created ON runs (created_key)",
        """CREATE TABLE checkpoint_records (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            checkpoint_id TEXT NOT NULL,
            form TEXT NOT NULL,
            base_seq INTEGER NOT NULL,
            prev_seq INTEGER,
            visible INTEGER NOT NULL,
            checksum TEXT NOT NULL,
            stored_bytes INTEGER NOT NULL,
            metadata TEXT NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
    ),
    (
        """CREATE TABLE control_signals (
            run_id TEXT PRIMARY KEY,
            action TEXT NOT NULL,
            body BLOB NOT NULL
        )""",
        """CREATE TABLE effects (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (run_id, key)
        )""",
    ),
    (
        """CREATE TABLE items (
            run_id TEXT NOT NULL,
            item_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            status TEXT NOT NULL,
            due_key TEXT,
            body BLOB NOT NULL,
            PRIMARY KEY (run_id, item_id)
        )""",
        "CREATE INDEX items_by_seq ON items (run_id, seq)",
        "CREATE INDEX items_by_status ON items (run_id, status, seq)",
        """CREATE TABLE item_counts (
            run_id TEXT PRIMARY KEY,
            body BLOB NOT NULL
        )""",
    ),
    (
        # An item's typed fields, input and result in columns of their own, so claiming and
        # finishing items write only what they change.
        """CREATE TABLE items_split (
            run_id TEXT NOT NULL,
            item_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            status TEXT NOT NULL,
            due_key TEXT,
            state BLOB NOT NULL,
            input BLOB NOT NULL,
            result BLOB NOT NULL,
            PRIMARY KEY (run_id, item_id)
        )""",
        """INSERT INTO items_split
            SELECT run_id, item_id, seq, status, due_key, item_part(body, 'state'),
                item_part(body, 'input'), item_part(body, 'result')
            FROM items""",
        "DROP TABLE items",
        "ALTER TABLE items_split RENAME TO items",
        "CREATE INDEX items_by_seq ON items (run_id, seq)",
        "CREATE INDEX items_by_status ON items (run_id, status, seq)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
RUN_TABLES = ("runs", "checkpoint_records", "control_signals", "effects", "items", "item_counts")


def item_part(body: bytes, part: str) -> bytes:
    """SQL function ``item_part`` of migration 4: one part of a version-3 item row."""
    state, data, result = split_body(body)
    return {"state": state, "input": data, "result": result}[part]
