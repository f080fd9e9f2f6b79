"""A fake ``modules`` package: the part of A1111 v1.10.1 (commit 82a973c0) that Clip Skip Control
uses, mirrored file by file with the host lines cited, so the adapter runs unchanged in CI."""
