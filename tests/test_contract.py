"""The workload contract (issue 10, defect 4): what a checker needs is checked before the run sends anything.

A workload that reuses ``check_unique_writes`` without the token it silently relies on was reported INVALID on
a correct DynamoDB Local ("stored item is not the winner's"). Now the run stops first, with one line (exit 2).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from examples.seat_booking import SeatBooking
from harness.checker.verdict import Verdict
from harness.clients.items import typed_item
from harness.clients.sdk import Request
from harness.errors import UsageError
from workloads import BUILTIN
from workloads.base import Call, Step, Workload, WorkloadConfig
from workloads.contract import CasContract, UniqueWritesContract
from workloads.registration import check_unique_writes
from workloads.role_update import RoleUpdate

STRESS = Path(sys.executable).parent / "stress"  # the installed console script, as a user runs it


def config(workers: int = 20, unsafe: bool = False) -> WorkloadConfig:
    return WorkloadConfig(workers, 3, None, 7, "20260101-000000-abcd", unsafe=unsafe)


def validate(cls: type[Workload], **kwargs: Any) -> None:
    cls(config(**kwargs), "table").validate_contract()


def tweaked(base: type[Workload], tweak: Callable[[Call, int], None]) -> type[Workload]:
    """``base`` whose every call is changed by ``tweak(call, worker)`` (one broken rule per test)."""
    class Tweaked(base):  # type: ignore[valid-type, misc]
        def request(self, worker: int, step: Step) -> Call:
            call = super().request(worker, step)
            tweak(call, worker)
            return call

    return Tweaked


# ----- built-ins and the example pass their own contract -----------------------------------------------------

@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_workload_passes_its_own_contract(name, unsafe):
    cls = BUILTIN[name]
    if unsafe and not cls.supports_unsafe:
        pytest.skip(f"{name} has no --unsafe variant")
    for workers in (1, 2, 200):
        validate(cls, workers=workers, unsafe=unsafe)


def test_builtin_checkers_declare_what_they_need():
    assert BUILTIN["registration"](config(), "t").contracts() == [UniqueWritesContract("register", "RequestId")]
    assert BUILTIN["role-update"](config(), "t").contracts() == [CasContract("cas", attribute="Role")]


def test_the_seat_booking_example_passes_and_declares_its_checker():
    validate(SeatBooking, workers=100)
    validate(SeatBooking, workers=100, unsafe=True)
    assert SeatBooking(config(), "t").contracts() == [UniqueWritesContract("book", "RequestId")]


# ----- each broken rule of check_unique_writes is named -------------------------------------------------------

def _drop_item_attr(attr: str) -> Callable[[Call, int], None]:
    def tweak(call: Call, worker: int) -> None:
        del call.request.params["Item"][attr]
    return tweak


def _drop_param(name: str) -> Callable[[Call, int], None]:
    def tweak(call: Call, worker: int) -> None:
        del call.request.params[name]
    return tweak


def _same_token(call: Call, worker: int) -> None:
    call.value["RequestId"] = "same"
    call.request.params["Item"]["RequestId"] = {"S": "same"}
    call.request.token = ("RequestId", "same")


def _wrong_key(call: Call, worker: int) -> None:
    call.request.params["Item"]["SeatId"] = {"S": "another-seat"}


def _value_without_token(call: Call, worker: int) -> None:
    call.value = {k: v for k, v in call.value.items() if k != "RequestId"}


def _no_request_token(call: Call, worker: int) -> None:
    call.request.token = None


def _renamed(call: Call, worker: int) -> None:
    call.f = "booking"


def _transaction(call: Call, worker: int) -> None:
    call.request = Request("transact_write_items", {"TransactItems": [{"Put": call.request.params}]})


@pytest.mark.parametrize(("tweak", "expected"), [
    (_drop_item_attr("RequestId"), "check_unique_writes needs each item to carry its token attribute 'RequestId'"),
    (_value_without_token, "finds each op's token in its Call value"),
    (_no_request_token, r"needs Request\(token=\('RequestId', "),
    (_drop_param("ReturnValuesOnConditionCheckFailure"), "ReturnValuesOnConditionCheckFailure='ALL_OLD'"),
    (_drop_param("ConditionExpression"), "needs conditional writes"),
    (_wrong_key, "key attribute 'SeatId' = the race's key"),
    (_same_token, "needs the 'RequestId' unique per worker, but workers 0 and 1 both write 'same'"),
    (_renamed, "checks the ops named 'book', but the requests are named 'booking': pass f='booking'"),
    (_transaction, r"checks put_item \(or update_item\) requests, but 'book' sends transact_write_items"),
], ids=["item-token", "value-token", "request-token", "all-old", "condition", "key", "same-token", "f", "operation"])
def test_a_broken_unique_writes_contract_is_named_in_one_line(tweak, expected):
    with pytest.raises(UsageError, match=expected) as caught:
        validate(tweaked(SeatBooking, tweak))
    message = str(caught.value)
    assert message.startswith("workload seat-booking: ") and "\n" not in message
    assert "nothing was sent" in message


class FirstSeatBooking(Workload):
    """A seat booking written from the README alone: no RequestId, no ALL_OLD, no Request token."""

    key_attribute = "SeatId"

    def request(self, worker: int, step: Step) -> Call:
        item = {"SeatId": step.key, "Customer": f"c{worker}"}
        params = {"TableName": self.table, "Item": typed_item(item),
                  "ConditionExpression": "attribute_not_exists(SeatId)"}
        return Call("book", item, Request("put_item", params))

    @classmethod
    def check(cls, ops: list, final_state: dict, config: dict) -> Verdict:
        return check_unique_writes(ops, final_state, f="book")


def test_the_first_attempt_names_the_token_first_and_counts_the_rest():
    with pytest.raises(UsageError) as caught:
        validate(FirstSeatBooking, workers=100)
    message = str(caught.value)
    assert message.startswith(f"workload {__name__}.FirstSeatBooking: check_unique_writes needs each item to "
                              "carry its token attribute 'RequestId' (Request(token=('RequestId', …)))")
    assert "(and 1 more problem)" in message  # ALL_OLD


class UpdateBooking(SeatBooking):
    """The same booking as an update that sets the token: check_unique_writes works for it too."""

    def request(self, worker: int, step: Step) -> Call:
        item = self.booking(worker, step)
        params = {"TableName": self.table, "Key": {"SeatId": {"S": step.key}},
                  "UpdateExpression": "SET Customer = :c, RequestId = :rid",
                  "ConditionExpression": "attribute_not_exists(SeatId)",
                  "ExpressionAttributeValues": {":c": {"S": item["Customer"]}, ":rid": {"S": item["RequestId"]}},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return Call("book", item, Request("update_item", params, token=("RequestId", item["RequestId"])))


def test_an_update_that_sets_the_token_passes_and_one_that_does_not_is_named():
    validate(UpdateBooking)

    def forget(call: Call, worker: int) -> None:
        del call.request.params["ExpressionAttributeValues"][":rid"]

    with pytest.raises(UsageError, match="token attribute 'RequestId'"):
        validate(tweaked(UpdateBooking, forget))


# ----- the CAS chain -------------------------------------------------------------------------------------------

def _same_new(call: Call, worker: int) -> None:
    call.value["new"] = "same"
    call.request.params["ExpressionAttributeValues"][":new"] = {"S": "same"}
    call.request.token = ("Role", "same")


def _value_without_expected(call: Call, worker: int) -> None:
    call.value = {"new": call.value["new"]}


@pytest.mark.parametrize(("tweak", "expected"), [
    (_no_request_token, r"needs Request\(token=\('Role', value\['new'\]\)\)"),
    (_same_new, "needs the new value unique per worker, but workers 0 and 1 both write 'same'"),
    (_value_without_expected, r"reads each op's Call value as \{'expected': …, 'new': …\}"),
    (_drop_param("ReturnValuesOnConditionCheckFailure"), "ALL_OLD"),
], ids=["token", "same-new", "value", "all-old"])
def test_a_broken_cas_contract_is_named(tweak, expected):
    with pytest.raises(UsageError, match=f"workload role-update: the CAS-chain checker .*{expected}"):
        validate(tweaked(RoleUpdate, tweak))


# ----- how contracts are found and checked --------------------------------------------------------------------

class OwnChecker(Workload):
    """A workload with its own checker: nothing declared, nothing to check."""

    name = "own"
    built = 0

    def request(self, worker: int, step: Step) -> Call:
        type(self).built += 1
        return Call("anything", None, Request("get_item", {}))

    @classmethod
    def check(cls, ops: list, final_state: dict, config: dict) -> Verdict:
        return Verdict()


class RaisingChecker(SeatBooking):
    """A checker that declares, then cannot take an empty history."""

    @classmethod
    def check(cls, ops: list, final_state: dict, config: dict) -> Verdict:
        super().check(ops, final_state, config)
        raise IndexError(len(ops))


def test_a_workload_without_declared_needs_passes_without_building_requests():
    validate(OwnChecker)
    assert OwnChecker.built == 0


def test_a_checker_that_raises_on_an_empty_history_keeps_what_it_declared():
    assert RaisingChecker(config(), "t").contracts() == [UniqueWritesContract("book", "RequestId")]
    validate(RaisingChecker)


class CountingBooking(SeatBooking):
    """A workload whose request() keeps state (a counter the run relies on)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sent = 0

    def request(self, worker: int, step: Step) -> Call:
        self.sent += 1
        return super().request(worker, step)


def test_the_requests_are_built_on_a_fresh_instance():
    workload = CountingBooking(config(), "t")
    workload.validate_contract()
    assert workload.sent == 0


def test_checkers_still_work_outside_the_contract_check():
    assert check_unique_writes([], {}, f="book").status == "valid"


# ----- the run stops before sending anything ------------------------------------------------------------------

SEATS_FIRST_ATTEMPT = textwrap.dedent('''
    """A seat booking written from the README alone: it forgets the RequestId token."""
    from harness.clients.sdk import Request
    from harness.clients.items import typed_item
    from workloads.base import Call, Workload
    from workloads.registration import check_unique_writes


    class SeatBooking(Workload):
        key_attribute = "SeatId"

        def key_names(self, round_):
            return [f"seat-{i}" for i in range(self.config.keys)]

        def request(self, worker, step):
            item = {"SeatId": step.key, "Customer": f"customer-{worker}"}
            params = {"TableName": self.table, "Item": typed_item(item),
                      "ConditionExpression": "attribute_not_exists(SeatId)"}
            return Call("book", item, Request("put_item", params))

        def completed(self, worker, step, call, outcome):
            return None

        @classmethod
        def check(cls, ops, final_state, config):
            return check_unique_writes(ops, final_state, f="book")
''')


def test_a_seat_booking_without_request_id_stops_with_exit_2_before_any_request(tmp_path):
    (tmp_path / "seats.py").write_text(SEATS_FIRST_ATTEMPT)
    with socket.socket() as server:  # a "DynamoDB" that records whether anyone connected
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        proc = subprocess.run([str(STRESS), "run", "--workload", "seats:SeatBooking", "--workers", "100",
                               "--keys", "3", "--backend", "endpoint", "--endpoint-url", url,
                               "--reports-dir", str(tmp_path / "reports")],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected: nothing was sent
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stress: error: workload seats.SeatBooking: check_unique_writes needs each item "
                               "to carry its token attribute 'RequestId' (Request(token=('RequestId', …)))")
    assert not list((tmp_path / "reports").rglob("history.jsonl"))
