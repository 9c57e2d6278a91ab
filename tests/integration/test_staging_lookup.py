"""Finding what an owner has staged, against moto's S3: a few blobs by HEAD, many by listing the
owner's key range, never another owner's blobs, and sizes as S3 stores them."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import Counter
from typing import Any

import pytest

from sitedeploy.stores import staging as staging_module
from sitedeploy.stores.staging import HEAD_LOOKUP_LIMIT, Staging
from sitedeploy_local.stack import LocalStack


@pytest.fixture
def staging(stack: LocalStack) -> tuple[Staging, Counter[str]]:
    client = stack.moto.client("s3")
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.s3", lambda model, **kw: count(model))
    return Staging(stack.resource("StagingBucket"), client), calls


def _blobs(count: int) -> dict[str, bytes]:
    # At least 16 random bytes: a one-byte blob repeats across calls one time in 256, and a digest
    # "absent" or "another owner's" would then be this owner's too.
    datas = [os.urandom(16 + i % 300) for i in range(count)]
    return {hashlib.sha256(d).hexdigest(): d for d in datas}


def test_many_blobs_are_found_by_listing_not_one_head_each(
    staging: tuple[Staging, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, calls = staging
    owner, other = f"owner-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    mine = _blobs(120)
    theirs = _blobs(40)
    for digest, data in mine.items():
        store.put_blob(owner, data, digest)
    for digest, data in theirs.items():
        store.put_blob(other, data, digest)
    absent = _blobs(30)
    monkeypatch.setattr(staging_module, "LIST_PAGE_KEYS", 3)  # pages of 3: paging is exercised
    asked = [*list(mine)[:90], *theirs, *absent]
    calls.clear()
    found = store.staged(owner, asked)
    assert found == {d: len(mine[d]) for d in list(mine)[:90]}  # not theirs, not the absent
    assert calls["HeadObject"] == 0
    assert 0 < calls["ListObjectsV2"] <= 16 + 120 // 3 + 16
    assert store.missing(owner, asked) == set(theirs) | set(absent)
    sizes = store.sizes(owner, asked)
    assert sizes[next(iter(absent))] is None
    assert sizes[asked[0]] == len(mine[asked[0]])


def test_a_few_blobs_are_looked_up_one_head_each(staging: tuple[Staging, Counter[str]]) -> None:
    store, calls = staging
    owner = f"owner-{uuid.uuid4().hex}"
    blobs = _blobs(HEAD_LOOKUP_LIMIT)
    present = dict(list(blobs.items())[:5])
    for digest, data in present.items():
        store.put_blob(owner, data, digest)
    calls.clear()
    assert store.staged(owner, blobs) == {d: len(x) for d, x in present.items()}
    assert calls["HeadObject"] == HEAD_LOOKUP_LIMIT
    assert calls["ListObjectsV2"] == 0


def test_listing_stops_past_the_largest_wanted_hash(
    staging: tuple[Staging, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An owner's other blobs in a shard are not paged through past what is wanted."""
    store, calls = staging
    owner = f"owner-{uuid.uuid4().hex}"
    staged = _blobs(200)
    for digest, data in staged.items():
        store.put_blob(owner, data, digest)
    monkeypatch.setattr(staging_module, "LIST_PAGE_KEYS", 2)
    # the smallest staged hash of each leading digit, so each listing could stop at once
    smallest: dict[str, str] = {}
    for digest in sorted(staged):
        smallest.setdefault(digest[0], digest)
    wanted = sorted(smallest.values())
    wanted += [f"{d[0]}{'0' * 63}" for d in wanted][: max(0, HEAD_LOOKUP_LIMIT + 1 - len(wanted))]
    calls.clear()
    found = store.staged(owner, wanted)
    assert set(found) == set(smallest.values())
    assert calls["ListObjectsV2"] <= 2 * len(smallest)  # a page or two per shard, not 200 / 2


def test_remembered_digests_round_trip_and_garbage_counts_for_nothing(
    staging: tuple[Staging, Counter[str]], stack: LocalStack
) -> None:
    """The SHA-1 memory is a cache: absent, unreadable or partly wrong, it only costs reading the
    files again, and a wrong entry is never handed to a platform."""
    store, _ = staging
    owner, site = f"owner-{uuid.uuid4().hex[:8]}", "site_digests"
    assert store.get_digests(owner, site) == {}  # never written: a miss, not an error
    good = {hashlib.sha256(b"a").hexdigest(): hashlib.sha1(b"a").hexdigest()}
    store.put_digests(owner, site, good)
    assert store.get_digests(owner, site) == good
    assert store.get_digests(f"{owner}-other", site) == {}  # per owner
    s3 = stack.moto.client("s3")
    key = staging_module.digests_key(owner, site)
    s3.put_object(Bucket=store.bucket, Key=key, Body=b"{not json")
    assert store.get_digests(owner, site) == {}
    s3.put_object(Bucket=store.bucket, Key=key, Body=b'{"sha1": ["not", "a", "map"]}')
    assert store.get_digests(owner, site) == {}
    mixed = {**good, "not-a-sha256": "0" * 40, "f" * 64: "not-a-sha1", "e" * 64: 7}
    s3.put_object(Bucket=store.bucket, Key=key, Body=json.dumps({"sha1": mixed}).encode())
    assert store.get_digests(owner, site) == good
