"""The managed DynamoDB Local's class-data-sharing archive (harness.backends.local_cds): recorded once, mapped
after, never trusted when damaged."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import boto3
import pytest

from harness.backends import local_cds, local_install
from harness.backends import servers as backends
from harness.errors import UsageError
from tests.conftest import REPO, run_stress

MANIFEST = ("Manifest-Version: 1.0\r\nMain-Class: org.example.Main\r\nBundle-Description: a long\r\n"
            "  description\r\nClass-Path: . log4j2.xml lib/a.jar lib/mis\r\n sing.jar lib/b\r\n .jar\r\n"
            "Created-By: test\r\n\r\n")


def fake_jar(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "lib").mkdir(parents=True)
    for name in ("a.jar", "b.jar"):
        (home / "lib" / name).write_bytes(b"PK")
    jar = home / "DynamoDBLocal.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr(local_cds.MANIFEST, MANIFEST)
        archive.writestr("org/example/Main.class", b"\xca\xfe\xba\xbe")
    return jar


def test_the_first_start_records_and_the_next_maps(tmp_path: Path) -> None:
    jar, root = fake_jar(tmp_path), tmp_path / "cds"
    first = local_cds.launch(jar, "/bin/sh", root, java_opts=["-Xmx1g"])
    assert first.state == "recording" and first.record_to is not None
    assert first.args[0] == f"-XX:ArchiveClassesAtExit={first.record_to}"
    assert first.args[1] == "-cp" and first.args[3] == "org.example.Main"
    copy, *libraries = first.args[2].split(os.pathsep)
    assert libraries == [str(jar.parent / "lib" / "a.jar"), str(jar.parent / "lib" / "b.jar")]  # no ".", no file
    assert Path(copy).name == jar.name and Path(copy).parent == first.record_to.parent
    with zipfile.ZipFile(copy) as archive:
        manifest = archive.read(local_cds.MANIFEST).decode()
        assert archive.read("org/example/Main.class") == b"\xca\xfe\xba\xbe"
    assert "Class-Path" not in manifest and "sing.jar" not in manifest
    assert "Main-Class: org.example.Main" in manifest and "Bundle-Description: a long\r\n  description" in manifest

    first.record_to.write_bytes(b"archive")
    first.finish(clean_exit=True)
    second = local_cds.launch(jar, "/bin/sh", root, java_opts=[])
    assert second.state == "mapped" and second.record_to is None
    assert second.args[0] == f"-XX:SharedArchiveFile={root / second.archive.parent.name / 'classes.jsa'}"
    assert second.args[1:] == first.args[1:]


def test_a_jvm_killed_while_recording_leaves_no_archive(tmp_path: Path) -> None:
    jar, root = fake_jar(tmp_path), tmp_path / "cds"
    first = local_cds.launch(jar, "/bin/sh", root, java_opts=[])
    first.record_to.write_bytes(b"half an archive")
    recorded = first.record_to
    first.finish(clean_exit=False)
    assert not recorded.exists() and local_cds.launch(jar, "/bin/sh", root, java_opts=[]).state == "recording"


def test_partial_files_of_dead_harnesses_are_removed(tmp_path: Path) -> None:
    jar, root = fake_jar(tmp_path), tmp_path / "cds"
    home = local_cds.launch(jar, "/bin/sh", root, java_opts=[]).record_to.parent
    dead_pid = 2 ** 22 + 12345  # above Linux's pid_max: never a running process
    abandoned, ours = home / f"classes.jsa.{dead_pid}-ab12", home / f"classes.jsa.{os.getpid()}-cd34"
    abandoned.write_bytes(b"x")
    ours.write_bytes(b"x")
    local_cds.launch(jar, "/bin/sh", root, java_opts=[])
    assert not abandoned.exists() and ours.exists()


def test_an_archive_the_jvm_rejects_is_deleted(tmp_path: Path) -> None:
    jar, root = fake_jar(tmp_path), tmp_path / "cds"
    first = local_cds.launch(jar, "/bin/sh", root, java_opts=[])
    first.record_to.write_bytes(b"archive")
    first.finish(clean_exit=True)
    mapped = local_cds.launch(jar, "/bin/sh", root, java_opts=[])
    archive = mapped.archive
    assert not mapped.rejected("Initializing DynamoDB Local\nPort: 8000\n") and archive.exists()
    assert mapped.rejected("[0.010s][error  ][cds] An error has occurred while processing the shared archive file")
    assert not archive.exists() and mapped.state == "off"


@pytest.mark.parametrize("opts", [["-Xshare:off"], ["-XX:SharedArchiveFile=/mine.jsa"]])
def test_a_user_who_sets_cds_options_gets_the_plain_start(tmp_path: Path, opts: list[str]) -> None:
    jar = fake_jar(tmp_path)
    assert local_cds.launch(jar, "/bin/sh", tmp_path / "cds", java_opts=opts).args == ["-jar", str(jar)]


def test_a_jar_without_a_manifest_gets_the_plain_start(tmp_path: Path) -> None:
    jar = tmp_path / "DynamoDBLocal.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("x.class", b"")
    assert local_cds.launch(jar, "/bin/sh", tmp_path / "cds", java_opts=[]).state == "off"


def _list_tables(endpoint: backends.Endpoint) -> list[str]:
    client = boto3.client("dynamodb", **endpoint.client_kwargs())
    table = "cds-check"
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName=table, Item={"k": {"S": "1"}}, ConditionExpression="attribute_not_exists(k)")
    return client.list_tables()["TableNames"]


def test_dynamodb_local_records_maps_and_survives_a_damaged_archive(local_jar_home: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_install, "cds_dir", lambda: tmp_path / "cds")
    monkeypatch.delenv("DDB_STRESS_LOCAL_JAVA_OPTS", raising=False)
    states, archives, sizes = [], [], []
    for damage in (False, False, True):
        if damage:  # cut to a quarter: the JVM dies of SIGBUS mapping it (seen with Java 17)
            with open(archives[-1], "r+b") as archive:
                archive.truncate(archive.seek(0, 2) // 4)
        server = backends.LocalServer(local_jar_home)
        try:
            endpoint = server.start()
            states.append(endpoint.details["class_data_sharing"])
            cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
            assert local_install.JAR_NAME.encode() in cmdline  # `stress local status|stop` recognise it
            assert _list_tables(endpoint) == ["cds-check"]
        finally:
            server.stop()
        archive = next((tmp_path / "cds").glob("*/classes.jsa"), None)
        archives.append(archive)
        sizes.append(archive.stat().st_size if archive else 0)
    # The damaged archive killed the JVM: started again without it, then deleted, to be recorded anew.
    assert states == ["recording", "mapped", "off"]
    assert sizes[0] > 1_000_000 and archives[2] is None
    jar = local_jar_home / local_install.JAR_NAME
    assert local_cds.launch(jar, "java", tmp_path / "cds", java_opts=[]).state == "recording"


def test_a_bad_jvm_option_does_not_cost_the_archive(local_jar_home: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_install, "cds_dir", lambda: tmp_path / "cds")
    jar = local_jar_home / local_install.JAR_NAME
    recording = local_cds.launch(jar, "java", tmp_path / "cds", java_opts=[])
    recording.record_to.write_bytes(b"an archive")  # never mapped: the JVM dies of the option first
    recording.finish(clean_exit=True)
    monkeypatch.setenv("DDB_STRESS_LOCAL_JAVA_OPTS", "-Xmx1k")  # the JVM refuses to start
    server = backends.LocalServer(local_jar_home)
    try:
        with pytest.raises(UsageError, match="exited during start-up: Error occurred during initialization of VM"):
            server.start()
    finally:
        server.stop()
    assert local_cds.launch(jar, "java", tmp_path / "cds", java_opts=[]).state == "mapped"


def test_stress_run_says_how_dynamodb_local_was_started(local_jar_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DDB_STRESS_CACHE": str(tmp_path / "cache"), "DYNAMODB_LOCAL_HOME": str(local_jar_home)}
    env.pop("DDB_STRESS_LOCAL_JAVA_OPTS", None)
    states, said = [], []
    java_tmp = Path("/tmp")  # java.io.tmpdir's default on Linux, whatever TMPDIR says
    extracted_before = set(java_tmp.glob("*libsqlite4java*"))
    for _ in range(2):
        done = run_stress("run", "--workload", "registration", "--workers", "4", "--keys", "1", "--rounds", "1",
                          "--reports-dir", str(tmp_path / "reports"), "--json", env=env, cwd=REPO)
        assert done.returncode == 0, done.stderr
        run_json = json.loads((Path(json.loads(done.stdout)["run_dir"]) / "run.json").read_text())
        states.append(run_json["backend"]["class_data_sharing"])
        said.append("saving its class archive" in done.stderr)
    assert states == ["recording", "mapped"]
    assert said == [True, False]  # the first run's ~3 s stop is announced, not silent
    # The jar extracts its SQLite library at every start; a server stopped with SIGKILL left it in /tmp.
    assert set(java_tmp.glob("*libsqlite4java*")) - extracted_before == set()
