"""The CI integrations (the GitHub Action, the GitLab template): glue around the ivrsync CLI.

They ship inside the package so that a pipeline runs the glue of the very ivrsync it installed;
each module is run as `python -m ivrsync.ci.<platform> STEP`.
"""


class CiError(Exception):
    """A problem the user must fix; reported as an error, exit 1."""
