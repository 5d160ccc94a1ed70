"""The login rate limit (webapp/login_limit.py) and the password work behind a login (webapp/passwords.py,
UserStore.authenticate), on real temp SQLite edit logs: backoff per address and per name that grows with failures
and resets on success, no lock anyone can keep on a name, bounded memory under a flood of 20,000+ names, the same
scrypt work for unknown names, and OWASP's scrypt cost with old hashes upgraded at login."""

from __future__ import annotations

import hashlib
import os
import statistics
import time

import pytest
import sqlalchemy as sa

from db.accounts import AccountRepository
from webapp.auth import LoginBackoff, User, UserStore
from webapp.login_limit import (
    ADDRESS_FREE,
    ADDRESS_MAX_DELAY_S,
    MAX_TRACKED,
    NAME_FREE,
    NAME_MAX_DELAY_S,
    LoginLimiter,
    address_key,
    backoff,
)
from webapp.passwords import SCRYPT, needs_rehash, verify_password


class Clock:
    """A clock the test moves by hand (the limiter takes any monotonic clock)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(limiter: LoginLimiter, name: str, address: str, times: int = 1) -> None:
    for _ in range(times):
        assert limiter.begin(name, address) == 0  # counted as a failure until it succeeds


def test_the_delay_doubles_after_the_free_failures_and_stops_at_its_cap():
    assert [backoff(n, 5, 30.0) for n in range(4, 12)] == [0, 1, 2, 4, 8, 16, 30, 30]
    assert backoff(10**6, ADDRESS_FREE, ADDRESS_MAX_DELAY_S) == ADDRESS_MAX_DELAY_S


def test_an_address_backs_off_across_names_and_a_success_resets_it():
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for i in range(ADDRESS_FREE):
        fail(limiter, f"name{i}", "203.0.113.5")
    assert limiter.begin("name-next", "203.0.113.5") == pytest.approx(1.0)  # refused, nothing counted
    assert limiter.wait("anyone", "198.51.100.1") == 0  # another address is not slowed
    clock.now += 1.0
    fail(limiter, "name-next", "203.0.113.5")  # the 11th failure
    assert limiter.wait("name-next", "203.0.113.5") == pytest.approx(2.0)  # the delay grew
    clock.now += 2.0
    assert limiter.begin("alice", "203.0.113.5") == 0
    limiter.succeeded("alice", "203.0.113.5")
    assert limiter.wait("name-next", "203.0.113.5") == 0  # reset by the success


def test_hammering_admin_slows_only_the_hammering_address():
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    attacker, curator = "203.0.113.66", "198.51.100.7"
    for _ in range(200):  # a wrong password as soon as the backoff lets it, for a long time
        clock.now += max(limiter.wait("admin", attacker), 0.0)
        fail(limiter, "admin", attacker)
    assert limiter.wait("admin", attacker) == pytest.approx(ADDRESS_MAX_DELAY_S)
    assert limiter.wait("admin", curator) == 0  # the curator's address never failed on admin: checked at once
    assert limiter.begin("admin", curator) == 0
    limiter.succeeded("admin", curator)


def test_one_name_from_many_addresses_backs_off_for_those_that_failed_on_it():
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for i in range(NAME_FREE):
        fail(limiter, "admin", f"10.0.0.{i}")
    assert limiter.wait("admin", "10.0.0.0") == pytest.approx(1.0)  # the name's backoff, for a failing address
    assert limiter.wait("admin", "10.0.9.9") == 0
    clock.now += 1.0
    for _ in range(8):  # the name's delay keeps doubling, up to NAME_MAX_DELAY_S
        clock.now += limiter.wait("admin", "10.0.0.3")
        fail(limiter, "admin", "10.0.0.3")
    assert limiter.wait("admin", "10.0.0.3") == pytest.approx(NAME_MAX_DELAY_S)


def test_a_burst_of_concurrent_attempts_is_counted_before_any_finishes():
    limiter = LoginLimiter(clock=Clock())
    started = [limiter.begin(f"name{i}", "203.0.113.9") for i in range(ADDRESS_FREE + 5)]
    assert started[:ADDRESS_FREE] == [0] * ADDRESS_FREE and all(w > 0 for w in started[ADDRESS_FREE:])


def test_a_flood_of_20000_names_from_as_many_addresses_stays_within_the_cap():
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for i in range(20_000):  # 3 counters each: address, name, pair
        fail(limiter, f"guess{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        clock.now += 0.001
    assert limiter.tracked() == MAX_TRACKED
    fail(limiter, "guess-last", "192.0.2.1")
    assert limiter.tracked() == MAX_TRACKED and limiter.wait("guess-last", "192.0.2.1") == 0
    for i in range(40_000):
        limiter.wait(f"probe{i}", "192.0.2.2")  # checking stores nothing
    assert limiter.tracked() == MAX_TRACKED


def test_idle_counters_are_forgotten():
    clock = Clock()
    limiter = LoginLimiter(clock=clock, forget_s=60)
    for i in range(50):
        fail(limiter, f"guess{i}", "10.1.1.1" if i < 9 else f"10.2.0.{i}")
    clock.now += 61
    fail(limiter, "alice", "10.3.0.1")
    assert limiter.tracked() == 3  # only alice's address, name and pair


def test_ipv6_clients_count_per_64():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7" and address_key(None) == "unknown"


# ---- UserStore.authenticate on a real edit log -----------------------------------------------------------


def store_at(url: str, clock=time.monotonic) -> UserStore:
    return UserStore(AccountRepository(url), LoginLimiter(clock=clock))


def old_cost_hash(password: str) -> str:
    """A hash as the previous round stored them (scrypt N=2**14, r=8, p=1)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def stored_hash(url: str, name: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT password_hash FROM users WHERE name = ?", (name,)).scalar_one()
    engine.dispose()
    return found


def test_new_hashes_use_owasp_scrypt_cost(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    stored = stored_hash(db_url, "alice")
    assert stored.startswith("scrypt$131072$8$1$") and SCRYPT == {"n": 2**17, "r": 8, "p": 1}
    assert not needs_rehash(stored) and verify_password("alice-password", stored)


def test_an_old_cost_hash_logs_in_and_is_upgraded_in_the_database(db_url):
    store = store_at(db_url)
    store.accounts.save_account("olga", "viewer", old_cost_hash("olga-password"))
    assert store.authenticate("olga", "wrong-password", "10.0.0.1") is None
    assert stored_hash(db_url, "olga").startswith("scrypt$16384$")  # a failed login upgrades nothing
    assert store.authenticate("olga", "olga-password", "10.0.0.1") == User("olga", "viewer")
    upgraded = stored_hash(db_url, "olga")
    assert upgraded.startswith("scrypt$131072$8$1$") and verify_password("olga-password", upgraded)
    assert store.authenticate("olga", "olga-password", "10.0.0.2") == User("olga", "viewer")
    assert stored_hash(db_url, "olga") == upgraded  # upgraded once


def test_an_upgrade_never_undoes_a_password_changed_meanwhile(db_url):
    repo = AccountRepository(db_url)
    repo.save_account("olga", "viewer", old_cost_hash("olga-password"))
    old = stored_hash(db_url, "olga")
    repo.save_account("olga", "viewer", "scrypt$changed-by-an-admin")
    assert not repo.upgrade_password_hash("olga", old, "scrypt$rehashed")
    assert stored_hash(db_url, "olga") == "scrypt$changed-by-an-admin"


def test_an_unknown_name_costs_the_same_scrypt_work_as_a_known_one(db_url):
    store = store_at(db_url)
    store.set_user("alice", "curator", "alice-password")
    store.authenticate("nobody-0", "x", "10.9.0.0")  # the dummy hash is made once, before timing

    def timed(name: str, address: str) -> float:
        started = time.perf_counter()
        assert store.authenticate(name, "wrong-password", address) is None
        return time.perf_counter() - started

    known = [timed("alice", f"10.9.1.{i}") for i in range(3)]
    unknown = [timed(f"nobody-{i}", f"10.9.2.{i}") for i in range(1, 4)]
    # loose on purpose: skipping the hash for an unknown name would make it ~1000x faster, not 2x
    assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)


def test_a_login_during_a_backoff_is_refused_with_the_wait_and_no_password_work(db_url):
    store = store_at(db_url, Clock())  # time stands still: the backoff is exactly 1 s
    store.set_user("alice", "curator", "alice-password")
    for _ in range(NAME_FREE):
        assert store.authenticate("alice", "wrong-password", "203.0.113.5") is None
    started = time.perf_counter()
    with pytest.raises(LoginBackoff, match=r"too many failed logins; try again in 1 s") as refused:
        store.authenticate("alice", "alice-password", "203.0.113.5")
    assert refused.value.http_status == 429 and refused.value.retry_after_s == 1
    assert time.perf_counter() - started < 0.05  # refused before any scrypt work
    assert store.authenticate("alice", "alice-password", "198.51.100.7") == User("alice", "curator")
