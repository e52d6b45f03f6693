"""Starting DynamoDB Local faster: a class-data-sharing (CDS) archive of the classes a run loads.

A JVM given ``-XX:SharedArchiveFile`` maps the classes recorded there instead of loading and verifying
them again: a managed DynamoDB Local answered its first ListTables after 1.0 s instead of 2.0 s (2 cores,
Java 17, median of 3), and the suite starts one for nearly every test.

Two things the jar's own layout forbids, and how they are avoided:

* its manifest's ``Class-Path`` starts with ``.`` (the jar's own directory), and the JVM refuses to
  archive a classpath holding a non-empty directory — so the JVM runs a copy of the jar whose manifest
  has no ``Class-Path``, and the libraries it named are given with ``-cp`` instead (same order);
* an archive belongs to one JVM build and one classpath — so archives are kept per jar and per java
  binary, and one the JVM rejected anyway (its log says so) is deleted, to be written again.

No archive yet: the start records one as the JVM exits (``-XX:ArchiveClassesAtExit``, a few seconds once,
then renamed into place only after a clean exit, so a killed JVM never leaves half an archive). Every
later start maps it. Anything that goes wrong here falls back to the plain ``-jar`` start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "META-INF/MANIFEST.MF"
ARCHIVE = "classes.jsa"
# What a JVM logs when it cannot use an archive it was given (it then runs without one).
REJECTED = ("[error][cds]", "[warning][cds] The shared archive", "shared class paths mismatch",
            "An error has occurred while processing the shared archive", "Unable to use shared archive")
# JVM options with which a user takes CDS into their own hands (DDB_STRESS_LOCAL_JAVA_OPTS).
USER_CDS_OPTIONS = ("-Xshare", "SharedArchiveFile", "ArchiveClassesAtExit")


@dataclass
class Launch:
    """How to start one DynamoDB Local JVM: what follows its JVM options, and the archive's bookkeeping."""

    args: list[str]  # -XX:… -cp CLASSPATH MAIN, or -jar JAR
    archive: Path | None = None  # the archive this start maps (None: none yet, or plain -jar)
    record_to: Path | None = None  # where this JVM writes a new archive as it exits

    @property
    def state(self) -> str:
        """For run.json: ``mapped`` (this start uses an archive), ``recording`` (it writes one at exit), ``off``."""
        return "mapped" if self.archive else "recording" if self.record_to else "off"

    def rejected(self, log_text: str) -> bool:
        """Delete an archive the JVM said it could not use (it is recorded again by a later start)."""
        if self.archive is None or not any(sign in log_text for sign in REJECTED):
            return False
        self.discard()
        return True

    def discard(self) -> None:
        """Delete the archive this start mapped: the JVM could not use it, or died of it."""
        if self.archive is None:
            return
        log.warning("DynamoDB Local could not use its class-data-sharing archive %s; it will be recorded again",
                    self.archive)
        with contextlib.suppress(OSError):
            self.archive.unlink()
        self.archive = None

    def finish(self, clean_exit: bool) -> None:
        """After the JVM has exited: keep the archive it recorded if it exited cleanly, else drop it."""
        if self.record_to is None:
            return
        recorded, self.record_to = self.record_to, None
        try:
            if clean_exit and recorded.is_file() and recorded.stat().st_size > 0:
                os.replace(recorded, recorded.with_name(ARCHIVE))
            else:
                recorded.unlink(missing_ok=True)
        except OSError as exc:
            log.debug("class-data-sharing archive %s not kept: %s", recorded, exc)


def plain(jar: Path) -> Launch:
    """The start without an archive: ``java … -jar DynamoDBLocal.jar``."""
    return Launch(["-jar", str(jar)])


def launch(jar: Path, java: str, root: Path, *, java_opts: list[str], record: bool = True) -> Launch:
    """The start of ``jar`` by ``java`` with an archive kept under ``root``: mapped if there is one,
    else recorded at exit (when ``record``). Falls back to :func:`plain` on any problem."""
    if any(marker in opt for opt in java_opts for marker in USER_CDS_OPTIONS):
        return plain(jar)
    try:
        home = root / _key(jar, java)
        _remove_abandoned(home)
        runnable, main, libraries = _runnable_copy(jar, home)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        log.debug("no class-data-sharing for %s: %s", jar, exc)
        return plain(jar)
    classpath = ["-cp", os.pathsep.join([str(runnable), *map(str, libraries)]), main]
    archive = home / ARCHIVE
    if archive.is_file():
        return Launch([f"-XX:SharedArchiveFile={archive}", *classpath], archive=archive)
    if not record:
        return Launch(classpath)
    record_to = home / f"{ARCHIVE}.{os.getpid()}-{os.urandom(4).hex()}"
    return Launch([f"-XX:ArchiveClassesAtExit={record_to}", *classpath], record_to=record_to)


def _remove_abandoned(home: Path) -> None:
    """Delete partial files (``NAME.PID-RANDOM``) of harness processes that no longer run: a harness killed
    by SIGKILL takes its JVM with it, mid-recording (an archive is ~40 MB)."""
    if not home.is_dir():
        return
    for path in home.iterdir():
        owner = path.suffix[1:].split("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            with contextlib.suppress(OSError):
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _key(jar: Path, java: str) -> str:
    """One directory per jar file and java build (an archive is valid for exactly one of each)."""
    java_real = Path(shutil.which(java) or java).resolve()
    parts = []
    for path in (jar.resolve(), java_real):
        stat = path.stat()
        parts.append(f"{path}|{stat.st_size}|{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _runnable_copy(jar: Path, home: Path) -> tuple[Path, str, list[Path]]:
    """A copy of ``jar`` without the manifest's Class-Path (made once), its Main-Class, and the jars that
    Class-Path named (relative to the original jar, which stays where it is)."""
    with zipfile.ZipFile(jar) as source:
        fields = _manifest_fields(source.read(MANIFEST).decode("utf-8"))
        main = fields.get("Main-Class", "").strip()
        if not main:
            raise ValueError(f"{jar} names no Main-Class")
        libraries = [jar.parent / entry for entry in fields.get("Class-Path", "").split()
                     if entry.endswith(".jar") and (jar.parent / entry).is_file()]
        copy = home / jar.name  # the same file name: `stress local status|stop` recognise the process by it
        if not copy.is_file():
            home.mkdir(parents=True, exist_ok=True)
            partial = home / f"{jar.name}.{os.getpid()}-{os.urandom(4).hex()}"
            with zipfile.ZipFile(partial, "w") as target:
                for info in source.infolist():
                    data = source.read(info)
                    if info.filename == MANIFEST:
                        data = _without_class_path(data.decode("utf-8")).encode("utf-8")
                    target.writestr(info, data)
            os.replace(partial, copy)
    return copy, main, libraries


def _manifest_fields(text: str) -> dict[str, str]:
    """The main section of a manifest (continuation lines joined)."""
    fields: dict[str, str] = {}
    name = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(" ") and name:
            fields[name] += line[1:]
        elif ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value.lstrip(" ")
        elif not line and fields:
            break
    return fields


def _without_class_path(text: str) -> str:
    """The manifest with its Class-Path attribute (and that attribute's continuation lines) removed."""
    kept: list[str] = []
    dropping = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(" ") and dropping:
            continue
        dropping = line.startswith("Class-Path:")
        if not dropping:
            kept.append(line)
    return "\r\n".join(kept)
