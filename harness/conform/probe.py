"""The probe contract: one behaviour AWS documents, checked on one backend, gives one :class:`Cell`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from harness.conform.client import ConformClient

CONFORMS = "conforms"
DIFFERS = "differs"
INCONCLUSIVE = "inconclusive"
STATUSES = (CONFORMS, DIFFERS, INCONCLUSIVE)


@dataclass(frozen=True)
class DocPage:
    """The AWS documentation page a probe cites."""

    title: str
    url: str


@dataclass
class Cell:
    """One probe on one backend.

    ``detail`` says what was seen (conforms), what came back instead of the documented answer (differs) or
    why the probe could not decide (inconclusive); ``evidence`` holds the raw observations, as plain JSON.
    """

    status: str
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    @classmethod
    def conforms(cls, detail: str = "", **evidence: Any) -> Cell:
        """The backend answered as AWS documents."""
        return cls(CONFORMS, detail, evidence)

    @classmethod
    def differs(cls, got: str, **evidence: Any) -> Cell:
        """The backend answered otherwise; ``got`` says what came back instead."""
        return cls(DIFFERS, got, evidence)

    @classmethod
    def inconclusive(cls, why: str, **evidence: Any) -> Cell:
        """The probe could not decide; ``why`` says what stood in the way."""
        return cls(INCONCLUSIVE, why, evidence)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form for conform.json and --json."""
        return {"status": self.status, "detail": self.detail, "evidence": self.evidence, "seconds": self.seconds}


class Findings:
    """The sub-checks of a probe: each expectation met or not; the cell names every one that was not."""

    def __init__(self) -> None:
        self.met: list[str] = []
        self.missed: list[str] = []
        self.evidence: dict[str, Any] = {}

    def expect(self, ok: bool, what: str, got: str) -> bool:
        """Record one documented expectation (``what``) and, when it is not met, what came back (``got``)."""
        if ok:
            self.met.append(what)
        else:
            self.missed.append(f"{what}: got {got}")
        return ok

    def cell(self) -> Cell:
        """differs naming every missed expectation, else conforms listing what was checked."""
        if self.missed:
            return Cell.differs("; ".join(self.missed), **self.evidence)
        return Cell.conforms("; ".join(self.met), **self.evidence)


class Probe(ABC):
    """One documented behaviour. A subclass sets the class attributes and implements :meth:`run`.

    ``run`` creates the tables it needs through ``client.table(...)`` (named
    ``ddbstress-conform-<id>-<probe>``, deleted afterwards), sends its requests and returns the cell. It
    must be deterministic wherever the behaviour allows, and bounded: the matrix gives it ``timeout_s``.
    """

    name: ClassVar[str]  # short kebab-case id: the matrix row and the table name
    title: ClassVar[str]  # one line for people
    doc: ClassVar[DocPage]
    documented: ClassVar[str]  # what AWS documents, in a sentence or two
    timeout_s: ClassVar[float] = 60.0

    @abstractmethod
    async def run(self, client: ConformClient) -> Cell:
        """Probe the backend behind ``client``."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The probe's row header, as plain JSON."""
        return {"name": cls.name, "title": cls.title, "documented": cls.documented,
                "doc": {"title": cls.doc.title, "url": cls.doc.url}}
