"""Plans: the difference between the manifests and the state, as a value."""
