"""`hospital prepare` reuses a generated file only if its manifest says the same code, seed,
parameters and window start made it: files of an older generator never meet a newer schema."""

from __future__ import annotations

import json

from generators.manifest import code_fingerprint, write_manifest
from hospital.prepare import manifest_matches


def test_a_manifest_matches_only_the_code_seed_and_parameters_that_made_it(tmp_path):
    path = write_manifest(tmp_path / "people.manifest.json", "generate-people", 7, {},
                          {"rows": 100, "sim_start": "2026-03-27T00:00:00+02:00"})
    assert json.loads(path.read_text())["code"] == code_fingerprint()
    assert manifest_matches(path, rows=100, seed=7, sim_start="2026-03-27T00:00:00+02:00")
    assert not manifest_matches(path, rows=100, seed=8)
    assert not manifest_matches(path, rows=100, seed=7, sim_start="2026-03-02T00:00:00+02:00")

    older = json.loads(path.read_text())
    older["code"] = "0" * 16          # made by another version of the generators
    path.write_text(json.dumps(older))
    assert not manifest_matches(path, rows=100, seed=7)
    del older["code"]                 # made before manifests carried the fingerprint
    path.write_text(json.dumps(older))
    assert not manifest_matches(path, rows=100, seed=7)


def test_the_fingerprint_changes_with_the_reference_data(tmp_path, monkeypatch):
    import generators.manifest as manifest
    (tmp_path / "core" / "reference").mkdir(parents=True)
    table = tmp_path / "core" / "reference" / "suburbs.csv"
    table.write_text("suburb\nOrlando East\n")
    monkeypatch.setattr(manifest, "ROOT", tmp_path)
    manifest.code_fingerprint.cache_clear()
    first = manifest.code_fingerprint()
    table.write_text("suburb\nOrlando West\n")
    manifest.code_fingerprint.cache_clear()
    assert manifest.code_fingerprint() != first
    manifest.code_fingerprint.cache_clear()
