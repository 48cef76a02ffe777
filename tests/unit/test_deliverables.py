"""`hospital deliverables`: the zip holds exactly the checklist's files, read back with zipfile, and
a missing file is a clear error with a non-zero exit and no zip."""

from __future__ import annotations

import ast
import os
import zipfile
from pathlib import Path

import pytest

from hospital import deliverables
from hospital.deliverables import MissingFiles, collect, main

ROOT = Path(__file__).resolve().parents[2]
CSVS = ("people.csv", "hospital_patients.csv", "staff.csv", "doctors.csv", "assigned_staff.csv")
REPO_FILES = ("docker-compose.yml", "init_db.sql", "README.md", "project_brief.pdf", "requirements.txt")
# The scripts the user named; they must be in the zip under their folders.
USER_SCRIPTS = ("generators/generate_people_data.py", "generators/generate_staff_doctors.py",
                "generators/assign_hospital_staff.py", "producer/stream_producer.py",
                "consumer/stream_consumer.py", "database/batch_ingest.py")


def python_files_on_disk() -> set[str]:
    """Every .py file under the four script folders, found by walking the tree."""
    found = set()
    for folder in ("core", "producer", "consumer", "database", "generators"):
        for directory, subdirs, files in os.walk(ROOT / folder):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            found |= {(Path(directory) / f).relative_to(ROOT).as_posix() for f in files if f.endswith(".py")}
    return found


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in CSVS:
        (folder / name).write_text(f"{name}_id,value\n1,a\n2,b\n", encoding="utf-8")
    return folder


def test_zip_holds_exactly_the_deliverables(data_dir, tmp_path, capsys):
    out = tmp_path / "dist" / "deliverables.zip"
    assert main(["--data-dir", str(data_dir), "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == len(set(names))
        reference = {p.relative_to(ROOT).as_posix() for p in (ROOT / "core" / "reference").glob("*.csv")}
        assert set(names) == set(CSVS) | set(REPO_FILES) | python_files_on_disk() | reference
        assert set(USER_SCRIPTS) <= set(names)
        assert archive.read("people.csv") == (data_dir / "people.csv").read_bytes()
        assert archive.read("init_db.sql") == (ROOT / "init_db.sql").read_bytes()
    assert not out.with_name(out.name + ".tmp").exists()
    assert "wrote" in capsys.readouterr().out


def test_data_dir_defaults_to_the_environment(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    out = tmp_path / "deliverables.zip"
    assert main(["--out", str(out)]) == 0
    assert zipfile.ZipFile(out).read("doctors.csv") == (data_dir / "doctors.csv").read_bytes()


def test_default_data_dir_is_the_full_run(monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert deliverables.build_parser().parse_args([]).data_dir == Path("data/full")


def test_a_missing_csv_is_a_clear_error_and_no_zip(data_dir, tmp_path, capsys):
    (data_dir / "doctors.csv").unlink()
    out = tmp_path / "deliverables.zip"
    assert main(["--data-dir", str(data_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "doctors.csv" in err and "people.csv" not in err
    assert "make full" in err and str(data_dir) in err
    assert not out.exists()


def test_a_missing_brief_says_how_to_make_it(data_dir, tmp_path):
    root = tmp_path / "repo"
    for name in ("docker-compose.yml", "init_db.sql", "README.md", "requirements.txt"):  # no brief
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")
    for folder in ("core", "producer", "consumer", "database", "generators"):
        (root / folder).mkdir()
        (root / folder / "script.py").write_text("")
    with pytest.raises(MissingFiles, match=r"project_brief\.pdf: run `make brief` first") as error:
        collect(data_dir, root=root)
    assert "README.md" not in str(error.value)


def test_every_project_module_a_zipped_script_imports_is_in_the_zip(data_dir, tmp_path):
    """Read back from the zip, not the tree: each import of a project package by a zipped module
    names a module the zip holds, so the scripts work unpacked beside their CSVs."""
    out = tmp_path / "deliverables.zip"
    assert main(["--data-dir", str(data_dir), "--out", str(out)]) == 0
    archive = zipfile.ZipFile(out)
    modules = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in archive.namelist() if n.endswith(".py")}
    packages = {"core", "hospital", "producer", "consumer", "database", "generators"}
    missing = set()
    for name in archive.namelist():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(archive.read(name))):
            imported = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                        else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        else [])
            missing |= {(name, module) for module in imported
                        if module.split(".")[0] in packages and module not in modules}
    assert not missing
    assert any(n.startswith("core/reference/") and n.endswith(".csv") for n in archive.namelist())
