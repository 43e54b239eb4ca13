"""The runtime: the decision log of runs (see :mod:`framework.runtime.core`) and the protocol
the executors report to (:mod:`framework.runtime.recorder`). It knows the schemas only."""

from framework.runtime.core import Runtime
from framework.runtime.recorder import DecisionLog, RunRecorder
from framework.runtime.records import Decision, Outcome, Problem, RunLog, RunSummary

__all__ = [
    "Decision",
    "DecisionLog",
    "Outcome",
    "Problem",
    "RunLog",
    "RunRecorder",
    "RunSummary",
    "Runtime",
]
