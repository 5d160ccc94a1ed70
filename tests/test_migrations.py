import sqlalchemy as sa

from db.engine import create_engine
from db.migrations import MIGRATIONS, migrate
from db.models import metadata


def _columns(engine):
    inspector = sa.inspect(engine)
    return {
        t: {c["name"]: (c["nullable"], type(c["type"]).__name__) for c in inspector.get_columns(t)}
        for t in inspector.get_table_names()
    }


def test_blank_database_migrates_to_the_models(any_db_url):
    engine = create_engine(any_db_url)
    assert migrate(engine) == [m.__name__ for m in MIGRATIONS]
    reflected = _columns(engine)
    assert set(reflected) == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert set(reflected[name]) == {c.name for c in table.columns}, name
        for column in table.columns:
            nullable, _ = reflected[name][column.name]
            assert nullable == (column.nullable and not column.primary_key), f"{name}.{column.name}"


def test_migrate_is_idempotent_and_recorded(any_db_url):
    engine = create_engine(any_db_url)
    migrate(engine)
    assert migrate(engine) == []
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(sa.text("SELECT name FROM _migrations ORDER BY name"))]
    assert names == sorted(m.__name__ for m in MIGRATIONS)


def test_sqlite_runs_in_wal_mode(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
