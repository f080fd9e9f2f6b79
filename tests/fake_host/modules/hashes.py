"""modules/hashes.py: ``sha256_from_cache`` (:22-38) reads the cache only; ``sha256`` (:41-67)
hashes the whole file on a miss. ``calculated`` records every whole-file hash, so that tests can
assert that Clip Skip Control never causes one."""

import hashlib
import os.path

from modules import shared
from modules.cache import cache

calculated = []


def calculate_sha256(filename):  # :11-19
    calculated.append(filename)
    hash_sha256 = hashlib.sha256()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            hash_sha256.update(chunk)
    return hash_sha256.hexdigest()


def sha256_from_cache(filename, title, use_addnet_hash=False):  # :22-38
    hashes = cache("hashes-addnet") if use_addnet_hash else cache("hashes")
    try:
        ondisk_mtime = os.path.getmtime(filename)
    except FileNotFoundError:
        return None

    if title not in hashes:
        return None

    cached_sha256 = hashes[title].get("sha256", None)
    cached_mtime = hashes[title].get("mtime", 0)

    if ondisk_mtime > cached_mtime or cached_sha256 is None:
        return None

    return cached_sha256


def sha256(filename, title, use_addnet_hash=False):  # :41-67 (the addnet branch left out)
    hashes = cache("hashes-addnet") if use_addnet_hash else cache("hashes")

    sha256_value = sha256_from_cache(filename, title, use_addnet_hash)
    if sha256_value is not None:
        return sha256_value

    if getattr(getattr(shared, "cmd_opts", None), "no_hashing", False):
        return None

    sha256_value = calculate_sha256(filename)
    hashes[title] = {"mtime": os.path.getmtime(filename), "sha256": sha256_value}
    return sha256_value
