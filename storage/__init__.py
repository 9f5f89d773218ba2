"""SQLite storage via sqlite-utils: migrations and one module per table family. Never imports torch.

Open one connection per unit of work: `with connect(home) as db: ...`.
"""
from storage.db import connect, db_path, home_dir, now

__all__ = ["connect", "db_path", "home_dir", "now"]
