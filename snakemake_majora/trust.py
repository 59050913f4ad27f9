"""Who may change what we trust: the ownership rules for the home and the configuration files.

A configuration file decides where requests go (``domain``) and which credential they carry
(``token_file``). If another local user can replace it, or the directory holding it, they can send the
user's token to a server of theirs. So the home and every configuration file follow the token
directory's rules: owned by the user (or root), not writable by group or others. A directory with the
sticky bit (``/tmp``'s rule: others cannot replace our entries) is allowed, and so is group write when
the group is the owner's private group (the user-private-group convention of umask 002 systems: a group
named like the user, with no other member), which gives no one else anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigError


def _trusted_owner(uid: int) -> bool:
    return uid in (os.getuid(), 0)


def _others_can_write(st: os.stat_result) -> bool:
    """True if a user other than the owner (and root) may write: others' bit, or a group with others in."""
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o002:
        return True
    if not mode & 0o020:
        return False
    import grp
    import pwd

    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid)
    except KeyError:
        return True
    return not (group.gr_name == owner and set(group.gr_mem) <= {owner})


def check_trusted_dir(path: Path, what: str) -> None:
    """Refuse a directory another user owns or can write (unless sticky); nothing if it is missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot use {what} {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if not _trusted_owner(st.st_uid):
        raise ConfigError(f"{what} {path} belongs to uid {st.st_uid}, not to you; refusing to read settings "
                          "that say where your token goes from there (use a directory of yours)")
    if _others_can_write(st) and not mode & stat.S_ISVTX:
        raise ConfigError(f"{what} {path} is writable by group/others (mode {mode:o}); others could replace "
                          f"its configuration and redirect your token. Run: chmod go-w {path}")


def check_trusted_file(path: Path, what: str) -> None:
    """Refuse a configuration file (or its directory) that another user owns or can write."""
    if str(path) == os.devnull:
        return  # an empty configuration on purpose (ocarina --env)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if not _trusted_owner(st.st_uid):
        raise ConfigError(f"{what} {path} belongs to uid {st.st_uid}, not to you; refusing to use it (it "
                          "decides where your token is sent). Check who put it there, then replace it with "
                          "a file of yours")
    if _others_can_write(st):
        raise ConfigError(f"{what} {path} is writable by group/others (mode {mode:o}); others could redirect "
                          f"your token. Run: chmod go-w {path}")
    check_trusted_dir(path.parent, f"the directory of {what}")
