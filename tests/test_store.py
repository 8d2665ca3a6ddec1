"""The store: versioned and model-driven migrations, PostgreSQL like SQLite, typed database errors."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from pipeline.store import Store
from schemas import Flags
from tests.helpers import ingest_all, small_inbox


def test_schema_migrations_are_versioned(tmp_path):
    store = Store(tmp_path / "s")
    assert store.schema_version == 7
    assert Store(tmp_path / "s").schema_version == 7  # reopening applies nothing twice
    with store.engine.connect() as conn:
        versions = pd.read_sql("select version from schema_version", conn)["version"].tolist()
    assert versions == [1, 2, 3, 4, 5, 6, 7]



def test_postgresql_store_matches_sqlite(tmp_path, postgres_url):
    inbox = small_inbox(tmp_path, n=3)
    lite = Store(tmp_path / "lite")
    pg = Store(tmp_path / "pg", url=postgres_url)
    assert pg.engine.dialect.name == "postgresql" and pg.schema_version == 7
    for store in (lite, pg):
        ingest_all(store, inbox)
    again = ingest_all(pg, inbox)
    assert {o.status for o in again} == {"duplicate"}
    for table in ("sessions", "segments", "files"):
        a = lite.table(table).drop(columns=["first_seen"], errors="ignore")
        b = pg.table(table).drop(columns=["first_seen"], errors="ignore")
        key = a.columns[0]
        pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                      b.sort_values(key).reset_index(drop=True),
                                      check_dtype=False)



def _columns(store: Store) -> dict[str, list[str]]:
    import sqlalchemy as sa

    inspector = sa.inspect(store.engine)
    return {name: sorted(c["name"] for c in inspector.get_columns(name))
            for name in inspector.get_table_names()}



def _model_columns() -> dict[str, list[str]]:
    from pipeline.store import _meta

    return {name: sorted(t.columns.keys()) for name, t in _meta.tables.items()}



@pytest.mark.parametrize("version", range(0, 8))
def test_a_store_from_any_earlier_version_opens_with_exactly_the_models_columns(
        tmp_path, monkeypatch, version):
    """A store written by an earlier Comeback (fewer migrations, models with fewer fields)
    gains what the models declare when it is opened, and keeps its rows."""
    import sqlalchemy as sa

    import pipeline.store as store_module

    full = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", full[:version])
    monkeypatch.setattr(store_module, "align_with_models", lambda conn, metadata=None: [])
    old = Store(tmp_path / "s")
    with old.engine.begin() as conn:
        if version:
            # An earlier model had fewer fields: drop one nullable, unindexed column of each.
            for table, column in (("sessions", "watch_split_agreement"), ("flags", "threshold"),
                                  ("decisions", "review")):
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(sa.text("INSERT INTO decisions (athlete_id, date, verdict, days_off, "
                                 "stage_before, stage_after, reason) VALUES "
                                 "('ana', '2026-02-02', 'STAY', 0, 1, 1, 'kept')"))
    old.engine.dispose()
    monkeypatch.setattr(store_module, "MIGRATIONS", full)
    monkeypatch.undo()
    store = Store(tmp_path / "s")
    assert store.schema_version == 7
    assert _columns(store) == _model_columns()
    if version:
        assert "add_column sessions.watch_split_agreement" in store.migrated
        assert store.table("decisions")["reason"].tolist() == ["kept"]
    assert Store(tmp_path / "s").migrated == []  # nothing left to do on the next open



class FlagsWithKind(Flags):
    """Flags as a later model might declare them: one more nullable field."""

    kind: Series[str] = pa.Field(nullable=True)



def test_a_field_added_to_a_model_becomes_a_column_of_an_existing_store(tmp_path):
    import sqlalchemy as sa

    from pipeline.store import _cols, _meta, align_with_models

    store = Store(tmp_path / "s")
    newer = sa.MetaData()
    for table in _meta.tables.values():
        if table.name != "flags":
            table.to_metadata(newer)
    sa.Table("flags", newer, *_cols(FlagsWithKind), sa.Index("ix_flags_athlete", "athlete_id"))
    with store.engine.begin() as conn:
        assert align_with_models(conn, newer) == ["add_column flags.kind"]
    with store.engine.begin() as conn:
        assert align_with_models(conn, newer) == []
    assert "kind" in _columns(store)["flags"]



def test_a_database_error_is_a_store_error_naming_the_store(tmp_path):
    from pipeline.errors import StoreError

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "comeback.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"store .*s: the database refused.*not a database"):
        Store(tmp_path / "s")


def test_sessions_stored_before_kinds_get_their_kind_from_sport_on_open(tmp_path):
    """Migration 7: a store written before sessions had ``kind`` fills it from the sport
    (and the measured gait for an unnamed sport) the next time it is opened."""
    import sqlalchemy as sa

    store = Store(tmp_path / "s")
    ingest_all(store, small_inbox(tmp_path, n=3))
    ids = store.table("sessions")["activity_id"].tolist()
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions SET kind = NULL"))
        conn.execute(sa.text(f"UPDATE sessions SET sport = 'cycling' WHERE activity_id = '{ids[0]}'"))
        conn.execute(sa.text(f"UPDATE sessions SET sport = 'unknown' WHERE activity_id = '{ids[1]}'"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version = 7"))
    store.engine.dispose()
    kinds = Store(tmp_path / "s").table("sessions").set_index("activity_id")["kind"]
    assert kinds[ids[0]] == "cross_training"
    assert kinds[ids[1]] == "run"  # running was measured in it
    assert kinds[ids[2]] == "run"
