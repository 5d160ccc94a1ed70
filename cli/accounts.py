"""Account commands: `user add NAME [--role R]` (password from a prompt or stdin) and `token create USER`.

Invariant: the users file keeps only hashes (webapp.auth); a new token is printed once and never stored in clear.
Needs no model: only the users file is touched.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from cli import Command
from core.config import SeracConfig
from core.errors import InvalidInput


def _store(config: SeracConfig):
    from webapp.auth import UserStore  # no gradio: webapp.auth imports only the stdlib and core

    return UserStore(config.users_file)


def _user_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "list"), help="add (or update) a user, or list them")
    p.add_argument("name", nargs="?", help="user name (for add)")
    p.add_argument("--role", choices=("viewer", "curator"), default="curator", help="default %(default)s")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead of a prompt")


def _user(args: argparse.Namespace, config: SeracConfig) -> int:
    store = _store(config)
    if args.action == "list":
        for name in store.names():
            print(f"{name}\t{store.get(name).role}")
        return 0
    if not args.name:
        raise InvalidInput("user add needs a NAME")
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.name}: ")
    )
    user = store.set_user(args.name, args.role, password)
    print(f"saved user {user.name} ({user.role}) in {config.users_file}")
    return 0


def _token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("create",), help="create a new API token")
    p.add_argument("name", help="the user the token acts as")


def _token(args: argparse.Namespace, config: SeracConfig) -> int:
    token = _store(config).create_token(args.name)
    print(token)
    print(
        f"API token for {args.name} (shown once; only its sha256 is kept). Use: Authorization: Bearer TOKEN",
        file=sys.stderr,
    )
    return 0


COMMANDS = [
    Command("user", "add a UI/API user (curator or viewer) or list users", _user_args, _user),
    Command("token", "create an API token for a user: token create USER", _token_args, _token),
]
