"""ivrsync: IVR voice prompts managed like infrastructure."""

__version__ = "0.1.0"
