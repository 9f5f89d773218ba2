"""deploy/ stays in step with the code. No Docker engine runs on the test machines, so these read the files: every
package the project installs is copied into the image, the compose services run commands that exist, and the Slack
manifest points at the routes `ftbot serve` has."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text())


def test_image_copies_every_installed_package_and_pins_torch_first():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, flags=re.M))
    assert {p.rstrip("*") for p in packages} == copied
    torch_at = dockerfile.index('pip install "torch==${TORCH_VERSION}"')
    assert torch_at < dockerfile.index("pip install -r /tmp/req.txt")     # the CPU/CUDA wheel before anything pulls torch
    assert "ARG TORCH_VARIANT=cpu" in dockerfile and "VOLUME [\"/data\"]" in dockerfile


def test_compose_services_share_the_home_volume_and_run_real_commands():
    from bot.cli import build_parser

    compose = _compose()
    services = compose["services"]
    assert set(services) == {"bot", "worker", "ray-worker"} and "ftbot-home" in compose["volumes"]
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for name, svc in services.items():
        assert "ftbot-home:/data" in svc["volumes"] and svc["environment"]["FTBOT_HOME"] == "/data", name
        assert svc["command"].split()[0] in commands, name
    gpu = services["worker"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert gpu["shm_size"]                                                    # NCCL for gpus=N runs
    assert services["ray-worker"]["environment"]["FTBOT_EXECUTOR"] == "ray"


def test_env_example_names_only_settings_the_code_reads():
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / ".env.example").read_text(), flags=re.M))
    code = "\n".join(p.read_text() for d in ("bot", "ops", "engine", "storage", "jobs") for p in (ROOT / d).rglob("*.py"))
    unread = {n for n in names if n not in code and not n.startswith(("SLACK_", "RAY_", "TORCH_"))}
    compose_vars = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yml").read_text()))
    assert unread <= compose_vars, unread - compose_vars


def test_manifest_routes_match_the_server():
    manifest = yaml.safe_load((DEPLOY / "manifest.yml").read_text())
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/ft"]
    urls = [commands[0]["url"], manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"]]
    assert all(u.endswith("/slack/events") for u in urls)
    assert {"app_mention", "message.im"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
