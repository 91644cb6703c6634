"""How the command names itself: one place for the fast `--version` (main) and click's (app)."""

PROG = "ivrsync"
# click's version_option prints this; main's fast path prints the same.
VERSION_MESSAGE = "%(prog)s, version %(version)s"
