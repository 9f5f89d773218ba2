"""Dataset upload from Slack: a file shared in a message that mentions the bot with `dataset add NAME`.

The file is fetched from `url_private_download` with the bot token as Bearer (never logged), written to a
temporary folder, registered through the operations layer (ops/datasets.py) (which copies it into FTBOT_HOME), then deleted.
"""
from __future__ import annotations

import re
import tempfile
import urllib.request
from pathlib import Path

from engine.errors import DatasetError

from bot import blocks
from bot.listeners import Deps

_ADD = re.compile(r"^\s*dataset\s+add\s+(\S+)\s*$", re.I)
EXTENSIONS = {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt"}


def register(app, deps: Deps) -> None:
    """File shares reach us as `message` events (subtype file_share) and mentions; bot.listeners.qa routes them."""


def maybe_dataset_upload(deps: Deps, event: dict, text: str, user: str, channel: str, reply_ts: str, client,
                         post) -> bool:
    m = _ADD.match(text or "")
    if not m:
        return False
    name = m.group(1)
    files = event.get("files") or []
    actor = deps.actor(user, channel)
    if deps.refuse(actor, "dataset.add", name, post, channel=channel):
        return True
    if not files:
        post(f":paperclip: Share the CSV/TSV/JSONL file in the same message: mention me with `dataset add {name}`"
             " and attach the file.")
        return True
    deps.background(_register, deps, files[0], name, actor, channel, reply_ts, post, on_error=post)
    return True


def _register(deps: Deps, f: dict, name: str, actor, channel: str, reply_ts: str, post) -> None:
    filename = Path(f.get("name") or "data.csv").name
    ext = Path(filename).suffix.lower()
    if ext not in EXTENSIONS:
        raise DatasetError([f"{filename}: unsupported file type {ext or '(none)'}; share a CSV, TSV or JSONL file"])
    size = f.get("size") or 0
    if size > deps.settings.max_upload_bytes:
        raise DatasetError([f"{filename} is {size} bytes; the limit is {deps.settings.max_upload_bytes}"])
    url = f.get("url_private_download") or f.get("url_private")
    if not url:
        raise DatasetError([f"{filename}: Slack gave no download link; share the file again"])
    with tempfile.TemporaryDirectory(prefix="ftbot-upload-") as tmp:
        path = Path(tmp) / filename
        download(url, deps.settings.bot_token, path, deps.settings.max_upload_bytes)
        row = deps.ops.register_dataset(name, path, actor=actor, source=f"slack:{f.get('id', '')}:{filename}")
    text, blks = blocks.dataset_detail(row)
    post(":white_check_mark: registered " + text, blks)


def download(url: str, token: str, dest: Path, limit: int) -> None:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp, dest.open("wb") as out:
            if "text/html" in (resp.headers.get("Content-Type") or ""):
                # Slack answers a login page, not the file, when the token lacks files:read.
                raise DatasetError([f"{dest.name}: could not download the file (is the files:read scope granted?)"])
            n = 0
            while chunk := resp.read(1 << 16):
                n += len(chunk)
                if n > limit:
                    raise DatasetError([f"{dest.name} is larger than the limit of {limit} bytes"])
                out.write(chunk)
    except OSError as e:
        raise DatasetError([f"{dest.name}: download failed ({type(e).__name__}: {getattr(e, 'reason', e)})"]) from None
