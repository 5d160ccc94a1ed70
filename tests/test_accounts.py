"""Users and tokens in the edit-log database (db/accounts.py under webapp.auth.UserStore), on SQLite and
PostgreSQL: what one store (another process, another instance) writes, a second store on the same database
sees at its next call; the first admin is created once however many instances start together; a legacy
users file is imported once, whole, and then never read; a token is found through its index."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput
from db.accounts import AccountRepository, token_lookup
from tests.threads import run_together
from webapp.auth import User, UserStore, ensure_first_user, hash_password, token_hash


def store_at(url: str) -> UserStore:
    return UserStore(AccountRepository(url))


def test_what_one_instance_writes_the_other_sees_at_once(any_db_url):
    server, cli = store_at(any_db_url), store_at(any_db_url)  # two engines, as two processes have
    assert server.get("carol") is None
    cli.set_user("carol", "viewer", "carol-password")
    token = cli.create_token("carol", "script")
    assert server.user_for_token(token) == User("carol", "viewer")
    assert server.authenticate("carol", "carol-password") == User("carol", "viewer")
    cli.set_role("carol", "curator")
    assert server.user_for_token(token) == User("carol", "curator") == server.get("carol")
    cli.set_user("carol", "curator", "carol-password-2")  # a new password counts at once too
    assert server.authenticate("carol", "carol-password") is None
    assert server.authenticate("carol", "carol-password-2") == User("carol", "curator")
    cli.revoke_token(cli.tokens("carol")[0].id)
    assert server.user_for_token(token) is None


def test_concurrent_first_starts_create_one_admin(fresh_db_url):
    url = fresh_db_url()
    AccountRepository(url).engine.dispose()  # migrated once, so the instances race on the users, not the schema
    stores = [store_at(url) for _ in range(4)]
    passwords = run_together(lambda i: ensure_first_user(stores[i]), 4)
    assert not [p for p in passwords if isinstance(p, BaseException)], passwords
    made = [p for p in passwords if p is not None]
    assert len(made) == 1 and stores[0].names() == ["admin"]
    assert stores[3].authenticate("admin", made[0]) == User("admin", "curator")


def test_first_user_loser_is_refused_by_the_unique_name_not_a_crash(any_db_url):
    repo = AccountRepository(any_db_url)
    assert repo.create_first("admin", "curator", hash_password("first-password"))
    assert not repo.create_first("admin", "curator", hash_password("other-password"))
    assert not repo.create_first("root", "curator", hash_password("other-password"))
    assert [a.name for a in repo.accounts()] == ["admin"]


def legacy_file(tmp_path, users: dict) -> tuple:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": users}))
    return path


def legacy_users() -> tuple[dict, str]:
    token = "serac_legacy-token"
    users = {
        "alice": {"role": "curator", "password": hash_password("alice-password"), "tokens": [token_hash(token)]},
        "victor": {"role": "viewer", "password": hash_password("victor-password"), "tokens": []},
    }
    return users, token


def test_a_users_file_is_imported_once_then_never_read(any_db_url, tmp_path):
    users, token = legacy_users()
    path = legacy_file(tmp_path, users)
    store = store_at(any_db_url)
    assert store.import_file(path) == 2
    assert store.users() == [User("alice", "curator"), User("victor", "viewer")]
    assert store.user_for_token(token) == User("alice", "curator")
    assert store.authenticate("victor", "victor-password") == User("victor", "viewer")
    assert [(t.user, t.label) for t in store.tokens()] == [("alice", "imported")]
    path.write_text("{no longer json")  # the file is not read again once the table has users
    assert store.import_file(path) == 0 and store_at(any_db_url).import_file(path) == 0
    assert store.names() == ["alice", "victor"]


def test_two_instances_importing_together_import_once(fresh_db_url, tmp_path):
    url = fresh_db_url()
    AccountRepository(url).engine.dispose()
    path = legacy_file(tmp_path, legacy_users()[0])
    stores = [store_at(url) for _ in range(3)]
    imported = run_together(lambda i: stores[i].import_file(path), 3)
    assert sorted(imported) == [0, 0, 2] and stores[0].names() == ["alice", "victor"]


def test_no_import_into_a_database_that_has_users(any_db_url, tmp_path):
    store = store_at(any_db_url)
    store.set_user("bob", "curator", "bob-password")
    assert store.import_file(legacy_file(tmp_path, legacy_users()[0])) == 0
    assert store.names() == ["bob"]
    assert store.import_file(tmp_path / "missing.json") == 0


@pytest.mark.parametrize(
    "users,message",
    [
        ({"alice": {"role": "root", "password": "x"}}, "user 'alice' needs a role"),
        ({"alice": {"role": "curator"}}, "user 'alice' needs a role"),
        ({"alice": {"role": "curator", "password": "x", "tokens": ["not-a-hash"]}}, "sha256 tokens"),
        (
            {
                "alice": {"role": "curator", "password": "x", "tokens": ["a" * 64]},
                "bob": {"role": "viewer", "password": "y", "tokens": ["a" * 64]},
            },
            "shares a token hash",
        ),
    ],
)
def test_a_bad_users_file_imports_nothing(any_db_url, tmp_path, users, message):
    users = {"zoe": {"role": "viewer", "password": hash_password("zoe-password-1")}, **users}  # a good one first
    store = store_at(any_db_url)
    with pytest.raises(InvalidInput, match=message):
        store.import_file(legacy_file(tmp_path, users))
    assert store.names() == [] and store.tokens() == []


def test_an_unreadable_users_file_is_a_clear_error(db_url, tmp_path):
    path = tmp_path / "users.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read users file"):
        store_at(db_url).import_file(path)


def test_a_token_is_found_through_its_unique_index(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    token = store.create_token("alice")
    query = token_lookup(token_hash(token)).compile(store.accounts.engine, compile_kwargs={"literal_binds": True})
    with store.accounts.engine.connect() as conn:
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert "api_tokens USING INDEX ix_api_tokens_hash" in plan, plan
    indexes = {i["name"]: i for i in sa.inspect(store.accounts.engine).get_indexes("api_tokens")}
    assert indexes["ix_api_tokens_hash"]["unique"] and indexes["ix_api_tokens_hash"]["column_names"] == ["token_hash"]


def test_user_names_are_unique_in_the_schema(any_db_url):
    repo = AccountRepository(any_db_url)
    repo.save_account("alice", "curator", hash_password("alice-password"))
    row = {"name": "alice", "role": "viewer", "password_hash": "x", "created_at": sa.func.now()}
    with pytest.raises(sa.exc.IntegrityError), repo.engine.begin() as conn:
        conn.execute(sa.table("users", *(sa.column(c) for c in row)).insert().values(**row))
    assert [(a.name, a.role) for a in repo.accounts()] == [("alice", "curator")]


def test_the_cli_imports_a_users_file_once_and_says_so(db_url, tmp_path):
    from tests.test_webapp_auth import run_app

    users, token = legacy_users()
    path = legacy_file(tmp_path, users)
    first = run_app(db_url, "user", "list", users=path)
    assert first.returncode == 0 and first.stdout == "alice\tcurator\nvictor\tviewer\n", first.stderr
    assert f"imported 2 users and their API tokens from {path} into the edit log" in first.stderr
    assert "no longer read" in first.stderr
    again = run_app(db_url, "token", "list", users=path)
    assert again.returncode == 0 and "imported" not in again.stderr
    assert again.stdout.split("\t")[1:3] == ["alice", "imported"]
    assert store_at(db_url).user_for_token(token) == User("alice", "curator")
