"""modules/cache.py: ``cache(subsection)`` (:56-80) returns one ``diskcache.Cache`` per subsection
(:21-26); here a dict per subsection, with the same ``title -> {"mtime", "sha256"}`` entries."""

caches = {}


def cache(subsection):  # :56-80
    return caches.setdefault(subsection, {})
