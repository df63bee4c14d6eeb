"""Deployment settings of the dashboard: local research use vs the hosted public demo.

Read from environment variables, optionally overlaid by a mapping (the dashboard
passes ``st.secrets`` here; this module never imports Streamlit):

=========================  ==================================================================
``FER_HOSTED_DEMO``         ``1``/``true``: public demo mode (no server folders, capped and
                            queued training, smaller uploads). Default off.
``FER_ALLOWED_ROOTS``       ``os.pathsep``-separated folders the Dataset page may read from
                            (local mode only). Default: the user's home folder and the
                            repository's sibling ``shared/datasets`` if it exists.
``FER_MAX_UPLOAD_MB``       Upload size limit enforced by the app (default 200 local, 20 demo).
``FER_DEMO_MAX_PARTICIPANTS``  Demo cap on participants per training (default 19).
``FER_DEMO_MAX_EPOCHS``     Demo cap on epochs (default 5).
``FER_MAX_JOBS``            Concurrent trainings per server (default 1).
``FER_ICE_SERVERS``         JSON list of WebRTC ICE servers, e.g.
                            ``[{"urls": ["stun:stun.l.google.com:19302"]}]``. Default: none
                            (enough on localhost); a hosted demo needs STUN/TURN.
``FER_LIVE_RUN_S``          Seconds per run of the Live page's redraw loop (default 60, at
                            least 5). The browser frees the charts of a run when it ends; each
                            end costs a garbage collection on the server (a short stall).
=========================  ==================================================================

In ``st.secrets`` the same keys are accepted in lower case without the ``FER_``
prefix (``hosted_demo = true``, ``ice_servers = [...]``); they override the environment,
except that demo mode is on if either turns it on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fer_engine.paths import REPO_ROOT

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    hosted_demo: bool = False
    allowed_roots: tuple[Path, ...] = ()
    max_upload_mb: int = 200
    demo_max_participants: int = 19
    demo_max_epochs: int = 5
    max_jobs: int = 1
    ice_servers: list = field(default_factory=list)
    live_run_s: float = 60.0

    @property
    def server_folders_allowed(self) -> bool:
        return not self.hosted_demo

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def rtc_configuration(self) -> dict:
        """What streamlit-webrtc's ``rtc_configuration`` takes."""
        return {"iceServers": list(self.ice_servers)}


def _lookup(name: str, overrides: Mapping | None):
    if overrides is not None:
        key = name.lower().removeprefix("fer_")
        try:
            if key in overrides:
                return overrides[key]
        except Exception:  # noqa: BLE001 - st.secrets raises when no secrets file exists
            pass
    return os.environ.get(name)


def _bool(value) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def _default_roots() -> tuple[Path, ...]:
    roots = [Path.home()]
    shared = REPO_ROOT.parent / "shared" / "datasets"
    if shared.is_dir():
        roots.append(shared)
    return tuple(r.resolve() for r in roots)


def load_settings(overrides: Mapping | None = None) -> Settings:
    """Settings from the environment, overlaid by ``overrides`` (e.g. ``st.secrets``)."""
    # Fail-safe: demo mode is on when either source turns it on; a secrets file saying
    # false cannot unlock a server whose environment asked for the public demo.
    hosted = _bool(os.environ.get("FER_HOSTED_DEMO", "")) or _bool(_lookup("FER_HOSTED_DEMO", overrides) or "")
    roots_value = _lookup("FER_ALLOWED_ROOTS", overrides)
    if roots_value:
        if isinstance(roots_value, str):
            roots_value = [r for r in roots_value.split(os.pathsep) if r.strip()]
        roots = tuple(Path(r).expanduser().resolve() for r in roots_value)
    else:
        roots = _default_roots()
    ice = _lookup("FER_ICE_SERVERS", overrides)
    if isinstance(ice, str):
        ice = json.loads(ice) if ice.strip() else []
    upload = _lookup("FER_MAX_UPLOAD_MB", overrides)
    return Settings(
        hosted_demo=hosted,
        allowed_roots=() if hosted else roots,
        max_upload_mb=int(upload) if upload else (20 if hosted else 200),
        demo_max_participants=int(_lookup("FER_DEMO_MAX_PARTICIPANTS", overrides) or 19),
        demo_max_epochs=int(_lookup("FER_DEMO_MAX_EPOCHS", overrides) or 5),
        max_jobs=int(_lookup("FER_MAX_JOBS", overrides) or 1),
        ice_servers=list(ice or []),
        live_run_s=_seconds("FER_LIVE_RUN_S", _lookup("FER_LIVE_RUN_S", overrides), 60.0, 5.0),
    )


def _seconds(name: str, value, default: float, minimum: float) -> float:
    """``value`` as seconds (``default`` if unset); ValueError naming the setting if it is not a
    number of at least ``minimum``."""
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= minimum:
        raise ValueError(f"{name} must be a number of seconds, at least {minimum:g}, not {value!r}")
    return number


def is_allowed_path(path, settings: Settings) -> bool:
    """True if ``path`` (resolved, symlinks followed) lies inside one of the allowed roots."""
    if not settings.server_folders_allowed:
        return False
    p = Path(path).expanduser().resolve()
    return any(p == root or root in p.parents for root in settings.allowed_roots)
