"""Account commands, on the edit-log database given by --db (shared with every running server at once):
`user add NAME [--role R]` (password from a prompt or stdin), `user role NAME --role R`, `user remove NAME`,
`user list`,
`token create USER [--label TEXT]`, `token list [USER]`, `token revoke ID`.

Invariant: the database keeps only hashes (webapp.auth, db.accounts); a new token is printed once and never
stored in clear; a change counts at once on every server using that database (no restart).
Needs no model: only the users and api_tokens tables are touched.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from cli import Command
from cli.context import open_users
from core.config import SeracConfig, mask_url_password
from core.errors import InvalidInput


def _user_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=("add", "role", "remove", "list"),
        help="add (or update) a user, change a user's role, remove a user (and their tokens), or list users",
    )
    p.add_argument("name", nargs="?", help="user name (for add and role)")
    p.add_argument("--role", choices=("viewer", "curator"), default="curator", help="default %(default)s")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead of a prompt")


def _user(args: argparse.Namespace, config: SeracConfig) -> int:
    store = open_users(config)
    if args.action == "list":
        for user in store.users():
            print(f"{user.name}\t{user.role}")
        return 0
    if not args.name:
        raise InvalidInput(f"user {args.action} needs a NAME")
    if args.action == "remove":
        gone = store.remove_user(args.name)
        print(f"removed user {args.name} and {gone} API tokens; their sessions and tokens end at once on every server")
        return 0
    if args.action == "role":
        user = store.set_role(args.name, args.role)
        print(f"user {user.name} is now a {user.role} (counts at once on every server)")
        return 0
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.name}: ")
    )
    user = store.set_user(args.name, args.role, password)
    print(f"saved user {user.name} ({user.role}) in the edit log {mask_url_password(config.db_url)}")
    return 0


def _token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("create", "list", "revoke"), help="create, list or revoke API tokens")
    p.add_argument("name", nargs="?", help="the user (create: required; list: optional) or the token id (revoke)")
    p.add_argument("--label", default=None, help="a note kept with a new token, e.g. where it is used")


def _token(args: argparse.Namespace, config: SeracConfig) -> int:
    store = open_users(config)
    if args.action == "list":
        for t in store.tokens(args.name):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            print(f"{t.id}\t{t.user}\t{t.label or '-'}\t{t.created_at:%Y-%m-%d %H:%M}\t{state}")
        return 0
    if not args.name:
        raise InvalidInput(f"token {args.action} needs a {'token id' if args.action == 'revoke' else 'USER'}")
    if args.action == "revoke":
        if not args.name.isdigit():
            raise InvalidInput(f"token revoke needs a token id (a number from `token list`), got {args.name!r}")
        t = store.revoke_token(int(args.name))
        print(f"revoked API token {t.id} of {t.user}; every server refuses it from now on")
        return 0
    token = store.create_token(args.name, args.label)
    print(token)
    print(
        f"API token for {args.name} (shown once; only its sha256 is kept). Use: Authorization: Bearer TOKEN",
        file=sys.stderr,
    )
    return 0


COMMANDS = [
    Command(
        "user", "add a UI/API user (curator or viewer), change a role, remove a user, or list users", _user_args, _user
    ),
    Command(
        "token", "create, list or revoke API tokens: token create USER | list [USER] | revoke ID", _token_args, _token
    ),
]
