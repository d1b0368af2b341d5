"""Crash points for the crash tests: IRR_CRASH_AT=name[,name] kills the process there (SIGKILL)."""

from __future__ import annotations

import os
import signal


def crashpoint(name: str) -> None:
    """Die at once, as a power cut would, when IRR_CRASH_AT names this point."""
    if name in os.environ.get("IRR_CRASH_AT", "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)
