"""The registration and role-update checkers: valid on good histories, invalid on each kind of violation
(negative controls), unknown where indeterminate ops leave the outcome undecidable."""

from __future__ import annotations

from harness.checker.verdict import INVALID, UNKNOWN, VALID
from harness.history.events import CONDITIONAL_FAILED
from tests.histories import HistoryBuilder, payload
from workloads.registration import Registration
from workloads.role_update import RoleUpdate

CCF = CONDITIONAL_FAILED
KEY = "user-r0-0000"


def registration_race(winners: list[int], losers: list[int], winner_of_old: int | None = None,
                      info: list[int] = ()) -> HistoryBuilder:
    """All workers overlap in time; winners are ok, losers fail seeing ``winner_of_old``'s item."""
    h = HistoryBuilder("registration")
    seen = payload(KEY, winner_of_old if winner_of_old is not None else (winners or [0])[0])
    for w in winners:
        h.op(w, "register", KEY, payload(KEY, w), 0, 100, "ok")
    for w in losers:
        h.op(w, "register", KEY, payload(KEY, w), 1, 90, "fail", error=CCF, old=seen)
    for w in info:
        h.op(w, "register", KEY, payload(KEY, w), 2, 95, "info", error="ReadTimeoutError")
    return h


def test_registration_one_winner_is_valid():
    ops = registration_race([3], [1, 2, 4, 5]).ops()
    verdict = Registration.check(ops, {KEY: payload(KEY, 3)}, {})
    assert verdict.status == VALID, verdict.violations


def test_registration_two_winners_is_invalid_and_names_them():
    ops = registration_race([3, 7], [1, 2]).ops()
    verdict = Registration.check(ops, {KEY: payload(KEY, 7)}, {})
    assert verdict.status == INVALID
    kinds = {v.kind for v in verdict.violations}
    assert "multiple-winners" in kinds
    multiple = next(v for v in verdict.violations if v.kind == "multiple-winners")
    assert multiple.key == KEY and "process 3" in multiple.message and "process 7" in multiple.message
    assert len(multiple.ops) == 2


def test_registration_zero_winners_without_info_is_invalid():
    h = HistoryBuilder("registration")
    for w in range(4):
        h.op(w, "register", KEY, payload(KEY, w), 0, 50, "fail", error=CCF)
    verdict = Registration.check(h.ops(), {KEY: None}, {})
    assert verdict.status == INVALID
    assert [v.kind for v in verdict.violations] == ["no-winner"]


def test_registration_zero_winners_with_info_that_won_is_valid():
    ops = registration_race([], [1, 2], winner_of_old=9, info=[9]).ops()
    verdict = Registration.check(ops, {KEY: payload(KEY, 9)}, {})
    assert verdict.status == VALID, verdict.violations


def test_registration_stored_item_not_the_winners_is_invalid():
    ops = registration_race([3], [1, 2]).ops()
    verdict = Registration.check(ops, {KEY: payload(KEY, 2)}, {})
    assert verdict.status == INVALID
    assert "stored-item-not-winner" in {v.kind for v in verdict.violations}


def test_registration_stored_item_nobody_wrote_is_invalid():
    ops = registration_race([3], [1]).ops()
    verdict = Registration.check(ops, {KEY: payload(KEY, 99)}, {})
    assert verdict.status == INVALID
    assert "stored-item-unwritten" in {v.kind for v in verdict.violations}


def test_registration_loser_that_saw_another_item_is_invalid():
    ops = registration_race([3], [1, 2], winner_of_old=1).ops()
    verdict = Registration.check(ops, {KEY: payload(KEY, 3)}, {})
    assert verdict.status == INVALID
    assert "loser-saw-other-item" in {v.kind for v in verdict.violations}


def test_registration_without_final_state_and_info_ops_is_unknown():
    ops = registration_race([], [1], winner_of_old=5, info=[5]).ops()
    verdict = Registration.check(ops, {}, {})
    assert verdict.status == UNKNOWN
    assert verdict.unknowns


def test_registration_unfinished_op_counts_as_indeterminate():
    h = registration_race([], [1], winner_of_old=5)
    h.op(5, "register", KEY, payload(KEY, 5), 0, None, "info")
    verdict = Registration.check(h.ops(), {KEY: payload(KEY, 5)}, {})
    assert verdict.status == VALID


def cas(h: HistoryBuilder, worker: int, expected: str, new: str, start: int, end: int | None, type_: str,
        round_: int = 0, old_role: str | None = None, key: str = "user-0000") -> None:
    old = {"Username": key, "Role": old_role} if old_role is not None else None
    h.op(worker, "cas", key, {"expected": expected, "new": new}, start, end, type_, round_=round_,
         error=CCF if type_ == "fail" else None, old=old, result=new if type_ == "ok" else None)


def cas_chain() -> HistoryBuilder:
    """Three rounds, one winner each, losers see the winner's value."""
    h = HistoryBuilder("role-update")
    cas(h, 1, "member", "w1-r0", 0, 10, "ok", 0)
    cas(h, 2, "member", "w2-r0", 1, 12, "fail", 0, old_role="w1-r0")
    cas(h, 2, "w1-r0", "w2-r1", 20, 30, "ok", 1)
    cas(h, 1, "w1-r0", "w1-r1", 21, 32, "fail", 1, old_role="w2-r1")
    cas(h, 1, "w2-r1", "w1-r2", 40, 50, "ok", 2)
    cas(h, 2, "w2-r1", "w2-r2", 41, 52, "fail", 2, old_role="w1-r2")
    return h


def test_role_update_chain_is_valid():
    verdict = RoleUpdate.check(cas_chain().ops(), {"user-0000": {"Role": "w1-r2"}}, {})
    assert verdict.status == VALID, verdict.violations


def test_role_update_lost_update_is_invalid_and_names_both_ops():
    h = cas_chain()
    cas(h, 3, "w2-r1", "w3-r2", 42, 51, "ok", 2)  # a second winner from the same value
    verdict = RoleUpdate.check(h.ops(), {"user-0000": {"Role": "w3-r2"}}, {})
    assert verdict.status == INVALID
    lost = next(v for v in verdict.violations if v.kind == "lost-update")
    assert len(lost.ops) == 2 and lost.details["expected"] == "w2-r1"


def test_role_update_final_value_not_chain_end_is_invalid():
    verdict = RoleUpdate.check(cas_chain().ops(), {"user-0000": {"Role": "w2-r1"}}, {})
    assert verdict.status == INVALID
    assert "final-value-mismatch" in {v.kind for v in verdict.violations}


def test_role_update_failure_that_saw_its_expected_value_is_invalid():
    h = cas_chain()
    cas(h, 4, "w1-r2", "w4-r3", 60, 70, "fail", 3, old_role="w1-r2")
    verdict = RoleUpdate.check(h.ops(), {"user-0000": {"Role": "w1-r2"}}, {})
    assert verdict.status == INVALID
    assert "condition-held-but-failed" in {v.kind for v in verdict.violations}


def test_role_update_winner_from_a_value_never_written_is_invalid():
    h = cas_chain()
    cas(h, 5, "ghost", "w5-r3", 60, 70, "ok", 3)
    verdict = RoleUpdate.check(h.ops(), {"user-0000": {"Role": "w1-r2"}}, {})
    assert verdict.status == INVALID
    assert "winner-off-chain" in {v.kind for v in verdict.violations}


def test_role_update_info_op_that_explains_the_final_value_is_valid():
    h = cas_chain()
    cas(h, 6, "w1-r2", "w6-r3", 60, 70, "info", 3)
    verdict = RoleUpdate.check(h.ops(), {"user-0000": {"Role": "w6-r3"}}, {})
    assert verdict.status == VALID, verdict.violations


def test_role_update_without_final_state_is_unknown():
    verdict = RoleUpdate.check(cas_chain().ops(), {}, {})
    assert verdict.status == UNKNOWN


def test_role_update_two_indeterminate_ops_in_a_row_may_carry_the_chain():
    """Seen under --pattern sustained --fault lost-ack:0.05 --retries 2 on DynamoDB Local: an unacknowledged
    CAS wrote a value, another worker read it and CASed from it, unacknowledged too, and a third CAS
    succeeded from that. The chain passes through both indeterminate ops: no false winner-off-chain."""
    h = cas_chain()
    cas(h, 6, "w1-r2", "w6-r3", 60, None, "info", 3)
    cas(h, 7, "w6-r3", "w7-r4", 80, None, "info", 4)
    cas(h, 8, "w7-r4", "w8-r5", 100, 110, "ok", 5)
    verdict = RoleUpdate.check(h.ops(), {"user-0000": {"Role": "w8-r5"}}, {})
    assert verdict.status == VALID, verdict.violations
    # Negative control: the same success from a value no indeterminate op can have written.
    cas(h, 9, "ghost", "w9-r6", 120, 130, "ok", 6)
    found = RoleUpdate.check(h.ops(), {"user-0000": {"Role": "w9-r6"}}, {})
    assert "winner-off-chain" in {v.kind for v in found.violations}
