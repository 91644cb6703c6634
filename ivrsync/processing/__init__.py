"""Processing declared in the manifest: what callers will hear, made from the source audio.

recipe.py says what to do (light: the loader and the planner use it); convert.py does it
(numpy, soundfile and soxr, imported only there, when audio is processed); cache.py keeps the
processed bytes under the key that decides an upload: sha256(source) + digest(recipe).
"""
