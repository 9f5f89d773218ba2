"""`python -m bot` is the `ftbot` CLI."""
from bot.cli import main

raise SystemExit(main())
