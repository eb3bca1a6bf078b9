"""The one rule for names that become parts of a path (suites, runs, datasets in a store).

A suite ``../../x`` or a run ``/etc/x`` would otherwise place its folder, its record and its
leaderboard anywhere on disk. Every such name is checked here, when a config, suite or record is
read, so ``--dry-run`` already refuses it.
"""

from __future__ import annotations

import re

from .errors import ConfigError

#: Letters, digits and ``_ . + -``, starting with a letter or digit: no separators, never
#: ``.`` or ``..``, never absolute, never hidden, and the same on every file system.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
MAX_LENGTH = 128
RULE = "use letters, digits and '_', '.', '+', '-', starting with a letter or digit (no '/', no '..')"


def is_safe_name(name: object) -> bool:
    return (isinstance(name, str) and len(name) <= MAX_LENGTH and SAFE_NAME.fullmatch(name) is not None
            and ".." not in name)


def check_name(name: object, where: str, key: str) -> str:
    """``name`` when it is safe as one path part; otherwise one ConfigError line naming ``key``."""
    if not is_safe_name(name):
        shown = f"{name!r}" if isinstance(name, str) else f"not a string ({name!r})"
        raise ConfigError(f"{where}: {key}: {shown} is not a valid name: {RULE}, at most {MAX_LENGTH} characters")
    return name
