"""Files shared with the bot in a message that mentions it: `dataset add NAME [key=value…]` registers the file,
`score RUN` scores it and answers with the scored file in the thread.

The file is fetched from `url_private_download` with the bot token as Bearer (never logged), written to a temporary
folder, handed to the command (through the one command path, ops.facade.Operations.run), then deleted.
"""
from __future__ import annotations

import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from engine.errors import DatasetError, FtbotError
from ops import commands as table

from bot import blocks, replies
from bot.listeners import Deps
from bot.slash_text import key_arguments, run_id

_ADD = re.compile(r"^\s*dataset\s+add\s+(\S+)((?:\s+[A-Za-z_]+=\S*)*)\s*$", re.I)
_SCORE = re.compile(r"^\s*score\s+(\S+)\s*$", re.I)
EXTENSIONS = {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt"}


def register(app, deps: Deps) -> None:
    """File shares reach us as `message` events (subtype file_share) and mentions; bot.listeners.qa routes them."""


def maybe_dataset_upload(deps: Deps, event: dict, text: str, user: str, channel: str, reply_ts: str, client,
                         post) -> bool:
    """True when the mention was a file command (handled here, answered through `post`)."""
    add, score = _ADD.match(text or ""), _SCORE.match(text or "")
    if not (add or score):
        return False
    files = event.get("files") or []
    actor = deps.actor(user, channel)
    verb = table.verb("dataset add" if add else "score")
    target = add.group(1) if add else score.group(1)
    if deps.refuse(actor, verb.audit_action, target, post, off_ack_path=True, channel=channel):
        return True
    try:
        arguments = ({"name": add.group(1), **key_arguments("dataset add", add.group(2).split())[1]} if add
                     else {"run_id": run_id(score.group(1))})
    except FtbotError as e:
        post(f":warning: {blocks.esc(e)}")
        return True
    if not files:
        post(f":paperclip: Share the CSV/TSV/JSONL file in the same message: mention me with "
             f"`{blocks.esc(text.strip())}` and attach the file.")
        return True
    deps.background(_run_on_file, deps, verb, files[0], arguments, actor, channel, reply_ts, client, post,
                    on_error=post)
    return True


def _run_on_file(deps: Deps, verb, f: dict, arguments: dict, actor, channel: str, reply_ts: str, client,
                 post) -> None:
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
        download(url, deps.settings.bot_token, path, deps.settings.max_upload_bytes,
                 allowed_hosts=slack_file_hosts(deps.settings.api_url))
        arguments = {**arguments, "path": path}
        if verb.name == "dataset add":
            arguments["source"] = f"slack:{f.get('id', '')}:{filename}"
        else:
            arguments.update(out=str(Path(tmp) / f"scored-{Path(filename).stem}.csv"),
                             explain_first=replies.EXPLAINED)
        done = deps.ops.run(verb.name, actor, arguments, {"channel": channel})
        replies.present(done, replies.Context.posting(deps, client, channel, actor.id, post, thread_ts=reply_ts))


# Where Slack serves private files. The token goes only to these (and to the configured SLACK_API_URL's host, so a
# test or a proxy in front of Slack works), over https unless SLACK_API_URL itself is plain http.
SLACK_FILE_HOSTS = ("files.slack.com", "slack-files.com")
SLACK_FILE_SUFFIXES = (".slack.com", ".slack-edge.com", ".slack-files.com")
MAX_REDIRECTS = 3


def slack_file_hosts(api_url: str | None) -> dict:
    """{'hosts': exact netlocs also allowed, 'http': netlocs allowed over plain http} from SLACK_API_URL."""
    u = urllib.parse.urlsplit(api_url or "")
    extra = {u.netloc.lower()} if u.netloc else set()
    return {"hosts": extra, "http": extra if u.scheme == "http" else set()}


def _allowed(url: str, allowed_hosts: dict | None) -> bool:
    u = urllib.parse.urlsplit(url)
    host, netloc = (u.hostname or "").lower(), u.netloc.lower()
    extra = (allowed_hosts or {}).get("hosts") or set()
    plain = (allowed_hosts or {}).get("http") or set()
    if u.scheme == "http":
        return netloc in plain
    if u.scheme != "https" or u.username or u.password:
        return False
    return netloc in extra or host in SLACK_FILE_HOSTS or host.endswith(SLACK_FILE_SUFFIXES)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by `download` itself, so each hop is checked and the token is not carried along."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())   # build_opener's FileHandler never sees a file:// URL:
                                                       # `_allowed` admits http(s) only


def download(url: str, token: str, dest: Path, limit: int, *, allowed_hosts: dict | None = None) -> None:
    """Fetch a Slack private file to `dest` (at most `limit` bytes). Only Slack's file hosts over https; the bot
    token is sent to the URL Slack gave and to redirects on that same host, never elsewhere."""
    origin = urllib.parse.urlsplit(url).netloc.lower()
    for _hop in range(MAX_REDIRECTS + 1):
        if not _allowed(url, allowed_hosts):
            raise DatasetError([f"{dest.name}: refusing to download from outside Slack's file servers"])
        same_host = urllib.parse.urlsplit(url).netloc.lower() == origin
        headers = {"Authorization": f"Bearer {token}"} if same_host else {}
        req = urllib.request.Request(url, headers=headers)
        try:
            with _OPENER.open(req, timeout=60) as resp, dest.open("wb") as out:
                if "text/html" in (resp.headers.get("Content-Type") or ""):
                    # Slack answers a login page, not the file, when the token lacks files:read.
                    raise DatasetError([f"{dest.name}: could not download the file (is the files:read scope granted?)"])
                declared = resp.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise DatasetError([f"{dest.name} is larger than the limit of {limit} bytes"])
                n = 0
                while chunk := resp.read(1 << 16):
                    n += len(chunk)
                    if n > limit:
                        raise DatasetError([f"{dest.name} is larger than the limit of {limit} bytes"])
                    out.write(chunk)
            return
        except urllib.error.HTTPError as e:
            location = e.headers.get("Location") if e.code in (301, 302, 303, 307, 308) else None
            if not location:
                raise DatasetError([f"{dest.name}: download failed (HTTP {e.code})"]) from None
            url = urllib.parse.urljoin(url, location)
        except OSError as e:
            raise DatasetError([f"{dest.name}: download failed ({type(e).__name__})"]) from None
    raise DatasetError([f"{dest.name}: download failed (too many redirects)"])
