"""ivrsync: IVR voice prompts managed like infrastructure."""

__version__ = "0.1.0"

# Where ivrsync is published (owner/name on GitHub): the one source templates install from,
# at the tag v{__version__} (docs/releasing.md). Set it at the first release, with
# [project.urls] in pyproject.toml (a test keeps them equal). Until then it is a name GitHub
# cannot give anyone (logins have no "_"), so an install from it fails instead of fetching
# whatever someone registered under a plausible name.
REPOSITORY = "SET_AT_FIRST_RELEASE/ivrsync"
