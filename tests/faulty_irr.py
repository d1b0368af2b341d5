"""`irr` with one fault injected from outside the product, for the crash and fault tests.

    python faulty_irr.py <when>:<module>:<attribute> <fault> <irr arguments...>

<attribute> (a function, or Class.method) of <module> is wrapped so that <when> ('before' or
'after') its first call the process dies (fault 'kill': SIGKILL, as a power cut) or the call fails
with OSError ENOSPC ('enospc') or EACCES ('eacces'), as a full disk or a refused write would.
"""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
import warnings


def inject(spec: str, fault: str) -> None:
    when, module_name, attribute = spec.split(":")
    owner = importlib.import_module(module_name)
    *classes, name = attribute.split(".")
    for cls in classes:
        owner = getattr(owner, cls)
    original = getattr(owner, name)

    def strike() -> None:
        if fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        code = {"enospc": errno.ENOSPC, "eacces": errno.EACCES}[fault]
        raise OSError(code, os.strerror(code))

    def wrapped(*args, **kwargs):
        if when == "before":
            strike()
        result = original(*args, **kwargs)
        strike()
        return result

    setattr(owner, name, wrapped)


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # importing the assets early: Dagster's beta warnings, which `irr` hides
    inject(sys.argv[1], sys.argv[2])
    from dagster_project.cli import main

    sys.exit(main(sys.argv[3:]))
