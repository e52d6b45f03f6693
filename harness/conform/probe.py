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

    @classmethod
    def api(cls, operation: str, section: str = "") -> DocPage:
        """The API Reference page of ``operation``, titled ``<operation> — Amazon DynamoDB API Reference
        (<section>)`` (no brackets without a section)."""
        title = f"{operation} — Amazon DynamoDB API Reference"
        return cls(f"{title} ({section})" if section else title,
                   f"https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_{operation}.html")

    @classmethod
    def guide(cls, page: str, title: str, section: str = "") -> DocPage:
        """The Developer Guide page ``<page>.html``, titled ``<title> — <section>`` (the title alone without
        a section)."""
        return cls(f"{title} — {section}" if section else title,
                   f"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/{page}.html")


@dataclass(frozen=True)
class Behaviour:
    """One documented behaviour a probe checks: the row header of the matrix."""

    name: str  # short kebab-case id: the matrix row and the table name
    title: str  # one line for people
    doc: DocPage
    documented: str  # what AWS documents, in a sentence or two


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
    """One documented behaviour. A subclass names its :class:`Behaviour` (``class P(Probe, behaviour=...)``,
    which sets the class attributes below) and implements :meth:`check`.

    :meth:`run` gives ``check`` a table of the probe's own (named ``ddbstress-conform-<id>-<probe>``,
    deleted afterwards); ``check`` sends its requests and returns the cell. It must be deterministic
    wherever the behaviour allows, and bounded: the matrix gives it ``timeout_s``.
    """

    name: ClassVar[str]  # these four are the subclass's Behaviour's
    title: ClassVar[str]
    doc: ClassVar[DocPage]
    documented: ClassVar[str]
    timeout_s: ClassVar[float] = 60.0

    def __init_subclass__(cls, behaviour: Behaviour | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if behaviour is not None:
            cls.name, cls.title, cls.doc, cls.documented = (behaviour.name, behaviour.title, behaviour.doc,
                                                            behaviour.documented)

    async def run(self, client: ConformClient) -> Cell:
        """Probe the backend behind ``client`` in a fresh table of this probe's own, deleted afterwards."""
        async with client.table(self.name) as table:
            return await self.check(client, table)

    @abstractmethod
    async def check(self, client: ConformClient, table: str) -> Cell:
        """Probe the backend behind ``client`` in ``table`` (fresh, hash key ``pk``, deleted afterwards)."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The probe's row header, as plain JSON."""
        return {"name": cls.name, "title": cls.title, "documented": cls.documented,
                "doc": {"title": cls.doc.title, "url": cls.doc.url}}
