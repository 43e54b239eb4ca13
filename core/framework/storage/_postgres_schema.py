"""The PostgreSQL backend's tables, as numbered migrations.

Payloads (checkpoint records, run records, control and effect rows, item parts) are the
codec's encoded bytes in ``bytea`` columns: stored and read back exactly, never parsed by
the server (``bytea`` beat ``jsonb`` when measured; see :mod:`framework.storage.postgres`).
An item's claim fields (status, attempts, worker, start) are columns of their own, so a
claim is one ``UPDATE`` that never parses JSON; the rest of its typed fields are its
``state``. A ledger's counts are columns too, so claims and finishes add to them.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "RUN_TABLES", "SCHEMA_VERSION"]

# Migration N (1-based) brings a database from schema version N-1 to N. Never edit one that
# has shipped; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            run_id text PRIMARY KEY,
            status text NOT NULL,
            agent_id text,
            graph_id text,
            created_key text NOT NULL,
            fencing_token bigint NOT NULL,
            body bytea NOT NULL
        )""",
        "CREATE INDEX runs_by_created ON runs (created_key, run_id)",
        """CREATE TABLE checkpoint_records (
            run_id text NOT NULL,
            seq integer NOT NULL,
            checkpoint_id text NOT NULL,
            form text NOT NULL,
            base_seq integer NOT NULL,
            prev_seq integer,
            visible boolean NOT NULL,
            checksum text NOT NULL,
            stored_bytes integer NOT NULL,
            metadata text NOT NULL,
            payload bytea NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE control_signals (
            run_id text PRIMARY KEY,
            action text NOT NULL,
            body bytea NOT NULL
        )""",
        """CREATE TABLE effects (
            run_id text NOT NULL,
            key text NOT NULL,
            position bigint GENERATED ALWAYS AS IDENTITY,
            status text NOT NULL,
            body bytea NOT NULL,
            PRIMARY KEY (run_id, key)
        )""",
        "CREATE INDEX effects_in_order ON effects (run_id, position)",
        """CREATE TABLE items (
            run_id text NOT NULL,
            item_id text NOT NULL,
            seq bigint NOT NULL,
            status text NOT NULL,
            due_key text,
            attempts integer NOT NULL,
            worker text,
            started_at text,
            state bytea NOT NULL,
            input bytea NOT NULL,
            result bytea NOT NULL,
            PRIMARY KEY (run_id, item_id)
        )""",
        "CREATE INDEX items_by_seq ON items (run_id, seq)",
        "CREATE INDEX items_by_status ON items (run_id, status, seq)",
        """CREATE TABLE item_counts (
            run_id text PRIMARY KEY,
            pending bigint NOT NULL,
            running bigint NOT NULL,
            completed bigint NOT NULL,
            failed bigint NOT NULL,
            skipped bigint NOT NULL,
            tokens_in bigint NOT NULL,
            tokens_out bigint NOT NULL,
            cost double precision NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
RUN_TABLES = ("runs", "checkpoint_records", "control_signals", "effects", "items", "item_counts")
