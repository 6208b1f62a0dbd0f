"""``python -m prefect_vendortokens.testing [--port N] [--seed S] [--env-file F] [--seconds T]``:
the vendor sandbox service (as ``prefect-vendortokens sandbox``, with a plain summary)."""

import argparse
from pathlib import Path

from .service import DEFAULT_ENV_FILE, serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m prefect_vendortokens.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--seed", default=None, help="seed of the credentials; default: the env file's")
    parser.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE, help="where to write the values")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args()

    def announce(sandbox: object, env_file: Path) -> None:
        print(f"Vendor sandbox at {getattr(sandbox, 'base_url', '')}; credentials in {env_file}", flush=True)

    serve(port=args.port, seed=args.seed, env_file=args.env_file, seconds=args.seconds, announce=announce)


if __name__ == "__main__":
    main()
