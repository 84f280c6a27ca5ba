"""``python -m tapelog``: the command line."""

from tapelog.cli import main


raise SystemExit(main())
