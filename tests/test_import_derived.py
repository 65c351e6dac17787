"""bench import of derived runs: the parents' ids are those of the receiving database."""

from __future__ import annotations

import json

from bench.configuration.run_config import config_hash
from bench.store import Store
from bench.store.exchange import export_runs, import_runs


def _finished(store: Store, plugin: str, config: dict, label: str) -> int:
    config = {"plugin": plugin, "corpus": "ptb", **config}
    run_id = store.create_run(
        plugin=plugin,
        corpus="ptb",
        model_label=label,
        config=config,
        config_hash=config_hash(config),
    )
    store.finish_run(run_id, "finished")
    return run_id


def _made_here(tmp_path):
    """A database with an unrelated run first, so that ids differ from the one importing:
    KN5 (2), LSTM (3), KN5 + cache (4, rescore of 2), KN5 + LSTM (5, combination of 2, 3)."""
    home = Store(f"sqlite:///{tmp_path / 'home.db'}")
    _finished(home, "unigram", {"options": {}}, "unigram")
    kn5 = _finished(home, "kn", {"options": {"order": 5}}, "KN5")
    lstm = _finished(home, "lstm", {"options": {"layers": 2}}, "LSTM 2x200")
    derived = {"kind": "rescore", "parents": [kn5], "method": "cache", "settings": {}}
    cached = _finished(home, "kn", {"options": {"order": 5}, "derived_from": derived}, "KN5 + c")
    members = {str(kn5): {"label": "KN5"}, str(lstm): {"label": "LSTM 2x200"}}
    settings = {"weights": {str(kn5): 0.4, str(lstm): 0.6}, "members": members}
    combined = {"kind": "combine", "parents": [kn5, lstm], "method": "linear"}
    mixed = _finished(
        home, "combine", {"derived_from": {**combined, "settings": settings}}, "KN5 + LSTM"
    )
    return home, [kn5, lstm, cached, mixed]


def _config(store: Store, run_id: int) -> dict:
    return next(r for r in store.list_runs(limit=None) if r["id"] == run_id)["config"]


def test_imported_derived_runs_name_the_imported_parents(tmp_path):
    home, ids = _made_here(tmp_path)
    folder = tmp_path / "runs"
    files = export_runs(home, folder, ids)
    away = Store(f"sqlite:///{tmp_path / 'away.db'}")
    imported = {path.name: run_id for path, run_id, _ in import_runs(away, files)}
    kn5, lstm, cached, mixed = (imported[f.name] for f in files)
    assert (kn5, lstm) != (ids[0], ids[1])  # the ids differ between the databases
    assert _config(away, cached)["derived_from"]["parents"] == [kn5]
    settings = _config(away, mixed)["derived_from"]["settings"]
    assert _config(away, mixed)["derived_from"]["parents"] == [kn5, lstm]
    assert settings["weights"] == {str(kn5): 0.4, str(lstm): 0.6}
    assert set(settings["members"]) == {str(kn5), str(lstm)}

    again = import_runs(away, files)  # the same files again: nothing added
    assert [new for _, _, new in again] == [False] * 4
    assert len(away.list_runs(limit=None)) == 4

    # an imported run exports and imports again: its hash still matches its configuration
    second = Store(f"sqlite:///{tmp_path / 'second.db'}")
    out = export_runs(away, tmp_path / "again", [kn5, cached])
    (_, parent, _), (_, child, _) = import_runs(second, out)
    assert _config(second, child)["derived_from"]["parents"] == [parent]


def test_a_parent_not_imported_becomes_a_readable_reference(tmp_path):
    home, ids = _made_here(tmp_path)
    files = export_runs(home, tmp_path / "runs", ids)
    record = json.loads(files[2].read_text())
    assert record["parents"][str(ids[0])]["plugin"] == "kn"
    away = Store(f"sqlite:///{tmp_path / 'away.db'}")
    _finished(away, "unigram", {"options": {}}, "unigram")
    _finished(away, "unigram", {"options": {"x": 1}}, "unigram")  # run 2 here: not KN5
    ((_, cached, _),) = import_runs(away, [files[2]])
    (parent,) = _config(away, cached)["derived_from"]["parents"]
    assert parent != ids[0] and isinstance(parent, str)
    assert parent.startswith(f"run {ids[0]} of the database that made it: KN5 on ptb, started ")


def test_an_older_file_without_parent_identities_still_gives_no_dangling_id(tmp_path):
    home, ids = _made_here(tmp_path)
    files = export_runs(home, tmp_path / "runs", ids)
    record = json.loads(files[3].read_text())
    del record["parents"]  # as written before run files carried them
    files[3].write_text(json.dumps(record))
    away = Store(f"sqlite:///{tmp_path / 'away.db'}")
    ((_, mixed, _),) = import_runs(away, [files[3]])
    parents = _config(away, mixed)["derived_from"]["parents"]
    assert parents == [
        f"run {ids[0]} of the database that made it: KN5",
        f"run {ids[1]} of the database that made it: LSTM 2x200",
    ]


def test_an_older_combination_finds_its_members_by_their_configuration_hash(tmp_path):
    home, ids = _made_here(tmp_path)
    files = export_runs(home, tmp_path / "runs", ids)
    record = json.loads(files[3].read_text())
    del record["parents"]
    settings = record["run"]["config"]["derived_from"]["settings"]
    for run_id, member in settings["members"].items():  # as bench combine writes them
        member["config_hash"] = json.loads(files[ids.index(int(run_id))].read_text())["run"][
            "config_hash"
        ]
    record["run"]["config_hash"] = config_hash(record["run"]["config"])
    files[3].write_text(json.dumps(record))
    away = Store(f"sqlite:///{tmp_path / 'away.db'}")
    _finished(away, "unigram", {"options": {}}, "unigram")
    imported = [run_id for _, run_id, _ in import_runs(away, [files[0], files[1], files[3]])]
    assert _config(away, imported[2])["derived_from"]["parents"] == imported[:2]
