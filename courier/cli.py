"""`courier`: the command line. Bad arguments get one line and exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from core.config import load_settings
from core.errors import CourierError
from courier.parser import Handler, build_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        # Both narrate every step (each migration check, each tick) at INFO.
        for chatty in ("alembic", "apscheduler"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
        # httpx logs each request's URL at INFO, and some suppliers put a token in it.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        handler: Handler = args.handler
        code = asyncio.run(handler.load()(args, settings))
        # Flushed here, not at exit, so that a reader gone early is caught below.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted. Python would still flush stdout at exit
        # and print a second error, so stdout now points at /dev/null. 141 = 128 + SIGPIPE,
        # the status any Unix tool cut short by its reader exits with.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except CourierError as err:
        # Their words load only when they are needed.
        from courier.output import with_invocation
        from courier.texts import render_error

        print(f"courier: {with_invocation(render_error(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
