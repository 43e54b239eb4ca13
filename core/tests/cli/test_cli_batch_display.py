"""What `agentgraph batch` shows: counts, rate and ETA from this process's samples, tokens, cost."""

from __future__ import annotations

import pytest

from framework.batch import BatchEvent, BatchProgress
from framework.cli.batch_display import BatchDisplay, counts_line, pace_line
from framework.cli.tables import duration
from framework.schemas.item import ItemCounts, ItemUsage


def counts(completed: int, failed: int = 0, pending: int = 0, running: int = 0) -> ItemCounts:
    usage = ItemUsage(
        tokens_in=1000 * completed, tokens_out=234 * completed, cost=0.001 * completed
    )
    return ItemCounts(
        completed=completed, failed=failed, pending=pending, running=running, usage=usage
    )


def test_the_counts_say_completed_failed_and_remaining_of_all() -> None:
    assert counts_line(counts(297, failed=3)) == "297 completed, 3 failed, 0 remaining (300 items)"
    assert counts_line(counts(5, pending=90, running=4)) == (
        "5 completed, 0 failed, 94 remaining (99 items)"
    )


def test_the_eta_appears_once_the_rate_has_settled() -> None:
    pace = BatchProgress()
    pace.sampled(counts(0, pending=300), now=1000.0)
    pace.sampled(counts(10, pending=290), now=1005.0)
    early = pace_line(pace, counts(10, pending=290))
    pace.sampled(counts(40, pending=260), now=1020.0)

    assert early == "120.0/min, ETA -"
    assert pace_line(pace, counts(40, pending=260)) == "120.0/min, ETA 2m10s"
    assert pace_line(BatchProgress(), ItemCounts()) == "-/min, ETA -"


@pytest.mark.parametrize(
    ("seconds", "shown"), [(42, "42s"), (185, "3m05s"), (7800, "2h10m"), (273_600, "3d04h")]
)
def test_durations_read_at_a_glance(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_without_a_terminal_it_prints_plain_lines_on_stderr_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with BatchDisplay("docs", counts(0, pending=3), live=False) as display:
        display(BatchEvent(kind="completed", run_id="docs", counts=counts(1, pending=2)))
        display(BatchEvent(kind="completed", run_id="docs", counts=counts(3)))

    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == ""
    assert lines[0].startswith("batch docs: 0 completed, 0 failed, 3 remaining (3 items) | ")
    assert lines[-1] == (
        "batch docs: 3 completed, 0 failed, 0 remaining (3 items) | -/min, ETA 0s | "
        "3,702 tokens, cost 0.0030"
    )
