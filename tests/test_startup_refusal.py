"""Weak secrets, the default guest salt and the demo page outside the demo: refused at start.

The settings' validators refuse them in any process (naming the variable, never echoing the
value); the web app (create_app, and gunicorn's master) and Celery workers and beat refuse to
start, as real processes, with the message on stderr.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings, UnsafeSettingsError, service_settings
from tests.conftest import TEST_GUEST_SALT, free_port, make_settings
from webhook import create_app

REPO = Path(__file__).resolve().parents[1]
STRONG_PLAIN = "a-plain-secret-of-24-byt"  # exactly 24 bytes
STRONG_WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


def whsec(n: int) -> str:
    return "whsec_" + base64.b64encode(b"s" * n).decode()


@pytest.mark.parametrize(("field", "value", "variable", "reason"), [
    ("webhook_secrets", "whsec_", "DMFREC_WEBHOOK_SECRETS", "decodes to 0 bytes"),
    ("webhook_secrets", whsec(23), "DMFREC_WEBHOOK_SECRETS", "decodes to 23 bytes"),
    ("webhook_secrets", "whsec_not*base64!", "DMFREC_WEBHOOK_SECRETS", "must be base64"),
    ("webhook_secrets", "x", "DMFREC_WEBHOOK_SECRETS", "decodes to 1 bytes"),
    ("webhook_secrets", STRONG_PLAIN[:-1], "DMFREC_WEBHOOK_SECRETS", "decodes to 23 bytes"),
    ("webhook_secrets", f"{STRONG_WHSEC},short", "DMFREC_WEBHOOK_SECRETS", "secret 2 decodes"),
    ("token_secret", "t" * 23, "DMFREC_TOKEN_SECRET", "23 bytes"),
    ("demo_page", True, "DMFREC_DEMO_PAGE", "only `dmfrec demo`"),
])
def test_weak_settings_are_refused_naming_the_variable(tmp_path, field, value, variable,
                                                       reason):
    with pytest.raises(ValidationError) as caught:
        make_settings(tmp_path, **{field: value})
    message = str(caught.value)
    assert variable in message and reason in message
    if isinstance(value, str) and len(value) > 2:
        assert value not in message  # the refused secret is not echoed into a log


def test_demo_flag_is_refused_on_a_real_database():
    with pytest.raises(ValidationError, match="DMFREC_DEMO is set only by `dmfrec demo`"):
        Settings(database_url="mysql+pymysql://u:p@db/shop", demo=True)


def test_strong_and_absent_secrets_are_accepted(tmp_path):
    s = make_settings(tmp_path, webhook_secrets=f"{STRONG_WHSEC}, {STRONG_PLAIN}",
                      token_secret="t" * 24)
    assert s.webhook_secret_list == [STRONG_WHSEC, STRONG_PLAIN]
    assert service_settings(make_settings(tmp_path)) is not None  # both off: nothing to weaken
    demo = make_settings(tmp_path, demo=True, demo_page=True)
    assert service_settings(demo).demo_page


@pytest.mark.parametrize("salt", ["dmfrec", ""])
def test_services_refuse_the_default_guest_salt(tmp_path, salt):
    settings = make_settings(tmp_path, guest_salt=salt)
    with pytest.raises(UnsafeSettingsError, match="DMFREC_GUEST_SALT"):
        service_settings(settings)
    with pytest.raises(UnsafeSettingsError, match="DMFREC_GUEST_SALT"):
        create_app(settings)
    # Guests skipped: no email is hashed, so no salt is needed.
    assert service_settings(settings.model_copy(update={"guest_policy": "skip"}))


def test_create_app_revalidates_copied_settings(tmp_path):
    """model_copy(update=...) skips pydantic's validators; create_app checks again."""
    settings = make_settings(tmp_path)
    for update in ({"webhook_secrets": "whsec_"}, {"demo_page": True}):
        with pytest.raises(UnsafeSettingsError, match="DMFREC_"):
            create_app(settings.model_copy(update=update))


def _start(command: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DMFREC_")}
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, env={
        **base, "PYTHONPATH": str(REPO), "DMFREC_GUEST_SALT": TEST_GUEST_SALT,
        "DMFREC_BROKER_URL": "redis://127.0.0.1:1/0", "DMFREC_REDIS_URL": "redis://127.0.0.1:1/0",
        **env})


def test_gunicorn_refuses_to_start(tmp_path):
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}"]
    prom = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    done = _start(gunicorn, DMFREC_WEBHOOK_SECRETS="whsec_", **prom)
    assert done.returncode == 1
    assert "refusing to start" in done.stderr and "DMFREC_WEBHOOK_SECRETS" in done.stderr
    done = _start(gunicorn, DMFREC_GUEST_SALT="dmfrec", **prom)
    assert done.returncode == 1 and "DMFREC_GUEST_SALT" in done.stderr


@pytest.mark.parametrize(("command", "env", "variable"), [
    (["worker", "--pool", "solo"], {"DMFREC_GUEST_SALT": "dmfrec"}, "DMFREC_GUEST_SALT"),
    (["worker", "--pool", "solo"], {"DMFREC_TOKEN_SECRET": "short"}, "DMFREC_TOKEN_SECRET"),
    (["beat"], {"DMFREC_DEMO_PAGE": "1"}, "DMFREC_DEMO_PAGE"),
])
def test_celery_worker_and_beat_refuse_to_start(command, env, variable):
    done = _start([sys.executable, "-m", "celery", "-A", "worker.celery_app", *command], **env)
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and variable in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_training_precision_is_refused():
    with pytest.raises(ValidationError, match="train_precision"):
        Settings(database_url="sqlite:///x.db", train_precision="fp8")
