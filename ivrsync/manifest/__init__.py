"""The manifest language: the only place that knows the shape of ivrsync.yaml."""
