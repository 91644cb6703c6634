"""The remote state backend (ivrsync/state/s3.py) against a real S3 server on loopback
(moto's), through boto3: conditional writes, the lock, the probe, the history."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ivrsync.address import Address
from ivrsync.state import s3 as s3_module
from ivrsync.state.errors import StateConflictError, StateCorruptError, StateError
from ivrsync.state.model import State
from ivrsync.state.s3 import S3StateStore, StateStoreUnsupportedError
from ivrsync.state.store import StateLockCorruptError, StateLockedError, StateStore
from tests.repo_factory import UPLOADED_AT
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_server

BUCKET = "ivr-prompts-state"
_keys = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Credentials from the environment, as boto3's standard chain reads them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def unprobed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own process, as far as the probe goes: it runs once per bucket."""
    monkeypatch.setattr(s3_module, "_probed", {})


def client(endpoint: str, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(**config),
    )


class FakeClock:
    """The lock's wait, driven without waiting: each sleep moves the clock on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def new_key() -> str:
    return f"team-{next(_keys)}/ivrsync.state.json"


def store_at(endpoint: str, key: str, **options: Any) -> S3StateStore:
    return S3StateStore(BUCKET, key, endpoint=endpoint, region="us-east-1", **options)


def with_upload(state: State, number: int) -> State:
    """A copy of `state` with one more recorded upload, as apply records each one."""
    from ivrsync.state.model import ResourceState

    state = state.model_copy(deep=True)
    address = Address.parse(f"aicc.p{number:05d}.en_US")
    state.resources[str(address)] = ResourceState(
        provider="aicc",
        provider_type="huawei-aicc",
        audio_path=f"audio/p{number:05d}.wav",
        remote_name=f"p{number:05d}en_US",
        file_id=f"file-{number}",
        sha256="a" * 64,
        size=800,
        attributes={},
        uploaded_at=UPLOADED_AT,
    )
    return state


def object_keys(endpoint: str, prefix: str) -> list[str]:
    listed = client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


# -- reading and writing ---------------------------------------------------------------------


def test_a_state_written_is_read_back_by_another_process(endpoint: str) -> None:
    key = new_key()
    store: StateStore = store_at(endpoint, key)
    assert store.read() is None
    first = store.write(with_upload(State.new(), 1))
    second = store.write(with_upload(first, 2))
    assert (first.serial, second.serial) == (1, 2)
    assert store_at(endpoint, key).read() == second
    assert store.location == f"s3://{BUCKET}/{key}"


def test_a_writer_that_read_an_older_serial_cannot_overwrite_the_newer_state(
    endpoint: str,
) -> None:
    """If-Match on the ETag read: the second writer (its lock broken, say) is stopped, and
    the state the first wrote stays."""
    key = new_key()
    store_at(endpoint, key).write(with_upload(State.new(), 1))
    mine, theirs = store_at(endpoint, key), store_at(endpoint, key)
    mine_state, their_state = mine.read(), theirs.read()
    assert mine_state is not None and their_state is not None
    written = theirs.write(with_upload(their_state, 2))
    with pytest.raises(StateConflictError) as conflict:
        mine.write(with_upload(mine_state, 3))
    message = str(conflict.value)
    assert "it holds serial 2, this run read serial 1" in message
    assert "was not overwritten" in message
    assert store_at(endpoint, key).read() == written


def test_two_first_states_at_once_only_one_is_written(endpoint: str) -> None:
    key = new_key()
    mine, theirs = store_at(endpoint, key), store_at(endpoint, key)
    assert mine.read() is None and theirs.read() is None
    written = theirs.write(with_upload(State.new(), 1))
    with pytest.raises(StateConflictError, match="it holds serial 1, this run read no state"):
        mine.write(with_upload(State.new(), 2))
    assert store_at(endpoint, key).read() == written


def test_a_state_pushed_where_none_was_found_keeps_counting_up(endpoint: str) -> None:
    """`state push` / `migrate` onto an empty store: the state keeps its serial (+ 1)."""
    key = new_key()
    store = store_at(endpoint, key)
    assert store.read() is None
    moved = with_upload(State.new(), 1).model_copy(update={"serial": 41})
    assert store.write(moved).serial == 42
    assert store_at(endpoint, key).read() == moved.model_copy(update={"serial": 42})


def test_a_corrupt_state_object_is_reported_and_never_overwritten(endpoint: str) -> None:
    key = new_key()
    client(endpoint).put_object(Bucket=BUCKET, Key=key, Body=b'{"serial": ')
    store = store_at(endpoint, key)
    with pytest.raises(StateCorruptError) as corrupt:
        store.read()
    assert f"s3://{BUCKET}/{key} is corrupt" in str(corrupt.value)
    assert f"{key}.history/" in str(corrupt.value)
    with pytest.raises(StateCorruptError):
        store.write(with_upload(State.new(), 1))
    kept = client(endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert kept == b'{"serial": '


def test_a_network_failure_while_writing_says_the_remote_state_is_unchanged(
    endpoint: str,
) -> None:
    """The connection fails on the state's PUT (after the probe and the read)."""
    from botocore.exceptions import EndpointConnectionError

    key = new_key()
    s3 = client(endpoint, retries={"total_max_attempts": 1})

    def cut(request: Any, **_: Any) -> None:
        if request.method == "PUT" and request.url.endswith(key):
            raise EndpointConnectionError(endpoint_url=endpoint)

    s3.meta.events.register("before-send.s3.PutObject", cut)
    store = store_at(endpoint, key, client=s3)
    store_at(endpoint, key).write(with_upload(State.new(), 1))
    state = store.read()
    assert state is not None
    with pytest.raises(StateError) as failed:
        store.write(with_upload(state, 2))
    assert "the remote state is unchanged" in str(failed.value)
    assert store_at(endpoint, key).read() == state


def test_no_credentials_is_one_line_naming_the_variables(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StateError) as missing:
        store_at(endpoint, new_key()).read()
    message = str(missing.value)
    assert "\n" not in message
    assert "no credentials for the state at s3://" in message
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message


def test_the_secret_key_and_signatures_never_reach_the_logs(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore logs its requests (signature included) at DEBUG; the store registers them."""
    from ivrsync.secrets import redact

    caplog.set_level(logging.DEBUG)
    store = store_at(endpoint, new_key())
    store.write(with_upload(State.new(), 1))
    lock = store.lock("apply", 0)
    store.unlock(lock)
    text = redact("\n".join(record.getMessage() for record in caplog.records))
    assert "Signature=" in text or "signature" in text.lower()  # botocore did log them
    assert SECRET_KEY not in text
    import re

    assert not re.search(r"Signature=[0-9a-f]{64}", text)


# -- the lock --------------------------------------------------------------------------------


def test_the_lock_is_exclusive_and_names_its_holder_and_the_command(endpoint: str) -> None:
    key = new_key()
    clock = FakeClock()
    holder = store_at(endpoint, key).lock("apply", timeout=0)
    waiter = store_at(endpoint, key, clock=clock, sleep=clock.sleep)
    with pytest.raises(StateLockedError) as locked:
        waiter.lock("apply", timeout=2)
    message = str(locked.value)
    assert f"the state s3://{BUCKET}/{key} is locked by" in message
    assert f"for 'apply' since {holder.since}" in message
    assert f"ivrsync force-unlock {holder.id}" in message
    assert sum(clock.sleeps) == pytest.approx(2)  # it waited the timeout out, on the clock
    record = client(endpoint).get_object(Bucket=BUCKET, Key=f"{key}.lock")["Body"].read()
    assert holder.id in record.decode() and f"s3://{BUCKET}/{key}" in record.decode()


def test_a_lock_released_while_waiting_is_taken(endpoint: str) -> None:
    key = new_key()
    first = store_at(endpoint, key)
    held = first.lock("apply", timeout=0)
    clock = FakeClock()

    def release_after_two_polls(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:
            first.unlock(held)

    waiter = store_at(endpoint, key, clock=clock, sleep=release_after_two_polls)
    taken = waiter.lock("plan", timeout=60)
    assert len(clock.sleeps) == 2
    assert waiter.current_lock() == taken


class Churn:
    """Other runs taking and releasing the lock between a waiter's requests: each lock PUT of
    the waiter finds the lock there, each read of it finds it gone, `rounds` times over."""

    def __init__(self, endpoint: str, key: str, record: bytes, rounds: int) -> None:
        self.other = client(endpoint)
        self.lock_key = f"{key}.lock"
        self.record = record
        self.left = rounds

    def __call__(self, request: Any, **_: Any) -> None:
        if self.left <= 0 or not request.url.split("?")[0].endswith(self.lock_key):
            return
        if request.method == "PUT":
            self.other.put_object(Bucket=BUCKET, Key=self.lock_key, Body=self.record)
        elif request.method == "GET":
            self.other.delete_object(Bucket=BUCKET, Key=self.lock_key)
            self.left -= 1


def test_a_waiter_keeps_waiting_while_the_lock_changes_hands(endpoint: str) -> None:
    """20 applies at once hand the lock on between a waiter's PUT and its read, again and
    again: the waiter waits on (its timeout), it does not give up."""
    key = new_key()
    other = store_at(endpoint, key)
    other.unlock(other.lock("apply", timeout=0))
    record = other.lock("apply", timeout=0).model_dump_json().encode()
    other.force_unlock(other.current_lock().id)  # type: ignore[union-attr]
    s3 = client(endpoint)
    s3.meta.events.register("before-send.s3", Churn(endpoint, key, record, rounds=6))
    clock = FakeClock()
    waiter = store_at(endpoint, key, client=s3, clock=clock, sleep=clock.sleep)
    lock = waiter.lock("apply", timeout=120)
    assert store_at(endpoint, key).current_lock() == lock
    assert len(clock.sleeps) == 3  # at once thrice, then a poll apart


def test_releasing_a_lock_removed_in_between_is_a_warning(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    s3 = client(endpoint)
    store = store_at(endpoint, key, client=s3)
    lock = store.lock("apply", timeout=0)
    other = client(endpoint)

    def force_unlocked_meanwhile(request: Any, **_: Any) -> None:
        if request.method == "DELETE" and request.url.split("?")[0].endswith(f"{key}.lock"):
            other.delete_object(Bucket=BUCKET, Key=f"{key}.lock")

    s3.meta.events.register("before-send.s3.DeleteObject", force_unlocked_meanwhile)
    store.unlock(lock)
    assert store.current_lock() is None
    assert f"the lock on s3://{BUCKET}/{key} was removed before its release" in caplog.text


def test_unlock_never_removes_a_lock_taken_by_someone_else(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    mine = store_at(endpoint, key)
    lock = mine.lock("apply", timeout=0)
    other = store_at(endpoint, key)
    assert other.force_unlock(lock.id) == lock
    theirs = other.lock("apply", timeout=0)
    mine.unlock(lock)
    assert store_at(endpoint, key).current_lock() == theirs
    assert f"lock {lock.id} on s3://{BUCKET}/{key} was no longer held" in caplog.text


def test_force_unlock_checks_the_id(endpoint: str) -> None:
    key = new_key()
    store = store_at(endpoint, key)
    with pytest.raises(StateError, match="is not locked"):
        store.force_unlock("nope")
    lock = store.lock("apply", timeout=0)
    with pytest.raises(StateError) as wrong:
        store.force_unlock("not-this-one")
    assert f"ivrsync force-unlock {lock.id}" in str(wrong.value)
    store.force_unlock(lock.id)
    assert store.current_lock() is None


def test_an_unusable_lock_object_is_reported_not_removed(endpoint: str) -> None:
    key = new_key()
    client(endpoint).put_object(Bucket=BUCKET, Key=f"{key}.lock", Body=b"garbage")
    clock = FakeClock()
    with pytest.raises(StateLockCorruptError, match="is unusable: it is not a lock record"):
        store_at(endpoint, key, clock=clock, sleep=clock.sleep).lock("apply", timeout=1)
    assert object_keys(endpoint, f"{key}.lock") == [f"{key}.lock"]


# -- the probe -------------------------------------------------------------------------------


def ignoring(endpoint: str, *headers: str) -> Any:
    """A client whose requests lose `headers`, as a store that ignores them behaves."""
    s3 = client(endpoint)

    def strip(params: dict[str, Any], **_: Any) -> None:
        for header in headers:
            params.pop(header, None)

    s3.meta.events.register("before-parameter-build.s3.PutObject", strip)
    return s3


@pytest.mark.parametrize("header", ["IfNoneMatch", "IfMatch"])
def test_a_store_that_ignores_conditional_writes_is_refused_before_any_write(
    endpoint: str, header: str
) -> None:
    key = new_key()
    store = store_at(endpoint, key, client=ignoring(endpoint, header))
    with pytest.raises(StateStoreUnsupportedError) as refused:
        store.lock("apply", timeout=0)
    named = {"IfNoneMatch": "If-None-Match", "IfMatch": "If-Match"}[header]
    assert f"this store ignores {named}: conditional writes are needed for the state lock" in str(
        refused.value
    )
    with pytest.raises(StateStoreUnsupportedError):
        store.write(with_upload(State.new(), 1))
    assert object_keys(endpoint, key.partition("/")[0]) == []  # no lock, no state, no probe


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def test_a_store_failing_during_the_probe_is_not_called_a_store_without_conditions(
    endpoint: str,
) -> None:
    """A 500 on the probe's conditional PUT proves nothing about conditions: the error says
    the store failed, and the probe runs again next time."""
    from botocore.awsrequest import AWSResponse

    s3 = client(endpoint, retries={"total_max_attempts": 1})
    body = b"<Error><Code>InternalError</Code><Message>internal error</Message></Error>"

    def fail_conditional(request: Any, **_: Any) -> AWSResponse | None:
        if ".probe/" in request.url and "If-None-Match" in request.headers:
            return AWSResponse(request.url, 500, {}, _Raw(body))
        return None

    s3.meta.events.register("before-send.s3.PutObject", fail_conditional)
    store = store_at(endpoint, new_key(), client=s3)
    with pytest.raises(StateError) as failed:
        store.lock("apply", timeout=0)
    assert not isinstance(failed.value, StateStoreUnsupportedError)
    assert "InternalError (500)" in str(failed.value)
    assert s3_module._probed == {}


def test_the_probe_runs_once_per_process_and_bucket(endpoint: str) -> None:
    counted = client(endpoint)
    puts: list[str] = []
    counted.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: puts.append(request.url)
    )
    key = new_key()
    first = S3StateStore(BUCKET, key, endpoint=endpoint + "/", client=counted)
    first.unlock(first.lock("apply", timeout=0))
    first.unlock(first.lock("apply", timeout=0))
    probes = [url for url in puts if ".probe/" in url]
    assert len(probes) == 3  # create, create again (refused), overwrite a wrong ETag (refused)


# -- versions --------------------------------------------------------------------------------


def test_the_history_keeps_the_last_versions_and_each_can_be_read(endpoint: str) -> None:
    key = new_key()
    store = store_at(endpoint, key, history=2)
    state = State.new()
    written = []
    for number in range(5):
        state = store.write(with_upload(state, number))
        written.append(state)
    versions = store.versions()
    assert [(v.id, v.serial, v.current) for v in versions] == [
        ("5", 5, True),
        ("4", 4, False),
        ("3", 3, False),
    ]
    assert all(v.lineage == state.lineage and v.written is not None for v in versions)
    assert store.read_version("3") == written[2]
    assert store.read_version("5") == written[4] == store.read_version("current")
    with pytest.raises(StateError, match=r"version 1 of s3://.* is no longer kept"):
        store.read_version("1")
    history = object_keys(endpoint, f"{key}.history/")
    assert history == [f"{key}.history/{serial:010d}.json" for serial in (3, 4, 5)]


def test_a_failed_history_copy_is_a_warning_and_the_state_is_written(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    s3 = client(endpoint)

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if ".history/" in params["Key"]:
            params["Bucket"] = "no-such-bucket-here"

    s3.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    written = store_at(endpoint, key, client=s3).write(with_upload(State.new(), 1))
    assert store_at(endpoint, key).read() == written
    assert "cannot keep version 1" in caplog.text and "(the state itself is written)" in caplog.text


def test_a_state_removed_since_it_was_read_is_not_written_again(endpoint: str) -> None:
    """If-Match on a key that is gone: a conflict (moto answers 404, S3 412), never a new
    state over nothing."""
    key = new_key()
    store = store_at(endpoint, key)
    state = store.write(with_upload(State.new(), 1))
    client(endpoint).delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(StateConflictError, match="it holds no state, this run read serial 1"):
        store.write(with_upload(state, 2))
    assert object_keys(endpoint, key) == [f"{key}.history/0000000001.json"]
