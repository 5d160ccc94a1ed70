"""Entry point: `python app.py [GLOBAL OPTIONS] [COMMAND ...]`; with no command it serves the UI.

This is the only module that reads the environment and the command line. It builds one SeracConfig
and hands it to the chosen command; an EditorError becomes one line on stderr and exit code 2.

Environment: SERAC_DB_URL, SERAC_DATA_DIR (default ./data beside this file), SERAC_CACHE_DIR
(default ./.cache/models), SERAC_USER (default: the login name), SERAC_USERS_FILE (default
./data/users.json: a legacy users file imported once into the edit log, which holds the UI/API users),
SERAC_BASE_API_KEY (the API key of an openai:URL base model; never a flag), SERAC_BASE_MODEL_NAME (its model
name), SERAC_MODELS_DIR (default ./models: the trained parts shipped in the repository and their manifest,
served unless --scope-checkpoint / --counterfactual-checkpoint say otherwise), SERAC_ALLOWED_ORIGINS
(origins besides the server's own that may call it from a browser), SERAC_TRUSTED_PROXIES (reverse proxies whose
X-Forwarded-For is believed), SERAC_SESSION_HOURS (UI login lifetime). SERAC_DB_URL is the place for a database
password: `--help` and every error show it masked (`postgresql://user:***@host/db`). Models load offline
(HF_HUB_OFFLINE=1) unless HF_HUB_OFFLINE=0 is set to allow hub ids. OPENBLAS_THREAD_TIMEOUT defaults to 20 (below).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", os.environ["HF_HUB_OFFLINE"])
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# numpy's OpenBLAS (a single row's products, core.products) lets its threads spin 2^N CPU cycles after a product,
# read when numpy loads. Its default, 2^28 (about 0.1 s), kept a core spinning into the next request's prompt pass,
# whose torch helpers now spin too (core.openmp): one client got 1.69-1.70 req/s against 1.90-1.94 with 2^20
# (about 0.4 ms, still longer than the gaps between a step's products); 2^16 woke them too often (1.70).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

import argparse  # noqa: E402
import getpass  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from cli import OneLineParser, accounts, ask, audit, backup, bench, edits, serve, train  # noqa: E402
from cli import eval as eval_cmd  # noqa: E402
from core.checkpoints import read_meta  # noqa: E402
from core.config import DECODE_PATHS, SeracConfig, mask_url_password  # noqa: E402
from core.errors import EditorError, ModelLoadError  # noqa: E402
from core.text import hide_password  # noqa: E402
from db.engine import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS  # noqa: E402

HERE = Path(__file__).resolve().parent
COMMAND_MODULES = [serve, edits, ask, audit, backup, accounts, train, eval_cmd, bench]


def build_parser(env: dict[str, str]) -> argparse.ArgumentParser:
    defaults = SeracConfig()
    data_dir = Path(env.get("SERAC_DATA_DIR", HERE / "data"))
    p = OneLineParser(
        prog="app.py",
        description="SERAC edit curator: curate, probe and audit edits "
        "to a language model. With no command, serves the UI at http://HOST:PORT.",
    )
    db_default = env.get("SERAC_DB_URL", f"sqlite:///{data_dir / 'edits.sqlite'}")
    p.add_argument(
        "--db",
        default=db_default,
        help="SQLAlchemy URL of the edit log (default: SERAC_DB_URL, else a SQLite file in the data folder; now "
        f"{mask_url_password(db_default).replace('%', '%%')}); put a password in SERAC_DB_URL, not on the command "
        "line, where other local users can read it",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default %(default)s)")
    p.add_argument("--port", type=int, default=7860, help="port to serve on (default %(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    p.add_argument("--dtype", choices=("auto", "float32", "float16", "bfloat16"), default=defaults.dtype)
    p.add_argument(
        "--base-model",
        default=defaults.base_model,
        help="base model: 'smollm2-135m-instruct', 'gemma-3-270m', a local folder, a hub id, or openai:URL for any "
        "OpenAI-compatible server (e.g. openai:http://127.0.0.1:8000/v1; its API key from SERAC_BASE_API_KEY)",
    )
    p.add_argument(
        "--base-model-name",
        default=env.get("SERAC_BASE_MODEL_NAME"),
        help="with openai:URL: the model name to ask for (default: SERAC_BASE_MODEL_NAME, else the first listed)",
    )
    p.add_argument(
        "--base-timeout",
        type=float,
        default=defaults.base_timeout_s,
        help="with openai:URL: seconds to wait for the server (default %(default)s)",
    )
    p.add_argument(
        "--base-retries",
        type=int,
        default=defaults.base_retries,
        help="with openai:URL: retries of connect errors and 502/503/504 (default %(default)s)",
    )
    p.add_argument("--counterfactual-model", default=None, help="counterfactual model (default: the base model)")
    p.add_argument("--embedder", default=defaults.embedder, help="scope-classifier embedder (default %(default)s)")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help=f"routing threshold in [0, 1] used when the log holds no curator-set threshold "
        f"(default {defaults.threshold}; eval always uses this one)",
    )
    p.add_argument("--top-k", type=int, default=defaults.top_k, help="candidates retrieved per query")
    p.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    _limit_options(p, defaults, env)
    p.add_argument(
        "--decode-path",
        choices=DECODE_PATHS,
        default=defaults.decode_path,
        help="how each new token is decoded: static (default; same answers as transformers, faster; a single "
        "row's products through numpy's OpenBLAS), static-torch (the same through torch's MKL), "
        "int8 (CPU, faster still, answers may differ) or transformers (the reference)",
    )
    p.add_argument(
        "--no-fast-routing",
        dest="fast_routing",
        action="store_false",
        help="route with the torch embedder and cross-encoder only (the reference; the default runs ONNX Runtime "
        "copies on the CPU and skips candidates below the similarity cut-off, with the same decisions)",
    )
    p.add_argument(
        "--cache-dir",
        default=env.get("SERAC_CACHE_DIR", str(HERE / ".cache" / "models")),
        help="where converted model checkpoints are kept",
    )
    p.add_argument("--user", default=env.get("SERAC_USER") or _login(), help="name recorded in the audit log")
    p.add_argument(
        "--models-dir",
        default=env.get("SERAC_MODELS_DIR", str(HERE / "models")),
        help="the shipped parts: what serving loads by default and export-parts writes (default %(default)s)",
    )
    p.add_argument(
        "--checkpoints-dir",
        default=env.get("SERAC_CHECKPOINTS_DIR", str(HERE / "checkpoints")),
        help="where train-* write and export-parts reads (default %(default)s)",
    )
    p.add_argument(
        "--scope-checkpoint",
        default=None,
        help="trained scope classifier: the shipped one in --models-dir (default), a folder from app.py "
        "train-scope, or 'none' for the untrained calibrated-cosine scorer",
    )
    p.add_argument(
        "--counterfactual-checkpoint",
        default=None,
        help="trained counterfactual model: the shipped one in --models-dir (default), a folder from "
        "app.py train-counterfactual, or 'none' for the untrained few-shot prompt",
    )
    p.add_argument(
        "--users",
        default=env.get("SERAC_USERS_FILE", str(data_dir / "users.json")),
        help="a legacy JSON users file, imported once into the edit log (--db) when that has no users yet; "
        "users and tokens live in the edit log; the first admin's password file is written beside it "
        "(default %(default)s)",
    )
    p.add_argument(
        "--allowed-origin",
        action="append",
        default=[o for o in env.get("SERAC_ALLOWED_ORIGINS", "").replace(",", " ").split() if o],
        metavar="ORIGIN",
        help="an origin (scheme://host[:port]) besides the server's own whose pages may call the UI and API "
        "from a browser, e.g. a reverse proxy's public https address; repeatable (env SERAC_ALLOWED_ORIGINS, "
        "space or comma separated); requests from any other Origin get 403",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[t for t in env.get("SERAC_TRUSTED_PROXIES", "").replace(",", " ").split() if t],
        metavar="ADDRESS",
        help="an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8) of a reverse proxy in front of the server: only "
        "from these is X-Forwarded-For believed as the client's address (login backoff is per address); "
        "repeatable (env SERAC_TRUSTED_PROXIES); default none: the connection's peer is the client",
    )
    p.add_argument(
        "--session-hours",
        type=float,
        default=env.get("SERAC_SESSION_HOURS", str(defaults.session_lifetime_s / 3600)),  # parsed like a flag
        help="how long a UI login lasts before the curator signs in again (default %(default)s; env "
        "SERAC_SESSION_HOURS)",
    )
    p.add_argument(
        "--log-probes",
        action="store_true",
        help="keep each asked query's routing record in the probe_log table (default: asking writes nothing)",
    )
    timeouts = (
        ("statement", "longest statement", STATEMENT_TIMEOUT_MS),
        ("lock", "longest wait for a lock", LOCK_TIMEOUT_MS),
    )
    for name, what, default_ms in timeouts:
        p.add_argument(
            f"--db-{name}-timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"PostgreSQL: {what} in seconds (default {default_ms / 1000:g}; 0: none); past it the request fails "
            "with 503 instead of freezing the instance",
        )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        for command in module.COMMANDS:
            cp = sub.add_parser(command.name, help=command.help, description=command.help)
            command.add_arguments(cp)
            cp.set_defaults(run=command.run)
    return p


def _limit_options(p: argparse.ArgumentParser, defaults: SeracConfig, env: dict[str, str]) -> None:
    """Limits on heavy reads (services.limits) and where uploads and exports live (webapp.files)."""
    p.add_argument(
        "--heavy-queue",
        type=int,
        default=defaults.heavy_queue,
        help="probes, probe sets, sweeps, maps and /v1 answers running or waiting at once; more get 503 "
        "(default %(default)s)",
    )
    p.add_argument(
        "--heavy-per-user",
        type=int,
        default=defaults.heavy_per_user,
        help="of those, how many one user may have at once; more get 429 (default %(default)s)",
    )
    p.add_argument(
        "--heavy-per-minute",
        type=float,
        default=defaults.heavy_per_minute,
        help="of those, how many one user may start per minute; more get 429 (0: no limit; default %(default)s)",
    )
    p.add_argument("--heavy-burst", type=int, default=defaults.heavy_burst, help="and at once (default %(default)s)")
    p.add_argument(
        "--temp-dir",
        default=env.get("SERAC_TEMP_DIR"),
        help="folder for the server's uploads and exports (its own serac-files-* folder inside, removed at "
        "shutdown; env SERAC_TEMP_DIR; default: the system's temp folder)",
    )


def config_from(args: argparse.Namespace, env: dict[str, str] | None = None) -> SeracConfig:
    env = dict(os.environ) if env is None else env
    overrides = {"counterfactual_model": args.counterfactual_model}
    overrides.update({} if args.threshold is None else {"threshold": args.threshold})
    overrides.update(_checkpoint_settings(args))
    return SeracConfig(
        db_url=args.db,
        device=args.device,
        dtype=args.dtype,
        base_model=args.base_model,
        embedder=args.embedder,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
        decode_path=args.decode_path,
        fast_routing=args.fast_routing,
        cache_dir=Path(args.cache_dir),
        users_file=args.users,
        log_probes=args.log_probes,
        base_model_name=args.base_model_name or None,
        base_api_key=env.get("SERAC_BASE_API_KEY") or None,  # never from the command line
        base_timeout_s=args.base_timeout,
        base_retries=args.base_retries,
        allowed_origins=tuple(args.allowed_origin),
        db_statement_timeout_ms=_ms(args.db_statement_timeout),
        db_lock_timeout_ms=_ms(args.db_lock_timeout),
        trusted_proxies=tuple(args.trusted_proxy),
        session_lifetime_s=args.session_hours * 3600,
        heavy_queue=args.heavy_queue,
        heavy_per_user=args.heavy_per_user,
        heavy_per_minute=args.heavy_per_minute,
        heavy_burst=args.heavy_burst,
        temp_dir=args.temp_dir or None,
        **overrides,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser(dict(os.environ)).parse_args(argv)
    run = getattr(args, "run", serve.COMMANDS[0].run)
    try:
        return run(args, config_from(args))
    except EditorError as exc:
        print(f"error: {hide_password(str(exc), args.db)}", file=sys.stderr)  # a message may quote the URL
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _found(folder: Path) -> str | None:
    """The folder when it holds a finished part (serac.json with complete: true); the manifest's hashes
    are checked when the part loads (core.shipped.verify_part)."""
    return str(folder) if _meta(str(folder)).get("complete") else None


def _checkpoint_settings(args: argparse.Namespace) -> dict:
    """Config fields for the trained parts; the scope checkpoint's chosen threshold unless --threshold."""
    out: dict = {}
    models = Path(args.models_dir)
    scope = args.scope_checkpoint or _found(models / "scope")
    if scope and scope.lower() != "none":
        out.update(scope_scorer="cross-encoder", scope_checkpoint=scope)
        chosen = _meta(scope).get("threshold")
        if args.threshold is None and chosen is not None:
            out["threshold"] = float(chosen)
    cf = args.counterfactual_checkpoint or _found(models / "counterfactual")
    if cf and cf.lower() != "none":
        out["counterfactual_checkpoint"] = cf
        trained_on = _meta(cf).get("base_model")  # an adapter fits only the model it was trained over
        if args.counterfactual_model is None and trained_on and trained_on != args.base_model:
            out["counterfactual_model"] = trained_on  # e.g. --base-model gemma-3-270m, SmolLM2 + LoRA edits
    return out


def _meta(folder: str) -> dict:
    try:
        return read_meta(folder) or {}
    except ModelLoadError:
        return {}  # build_editor reports the unreadable checkpoint


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
