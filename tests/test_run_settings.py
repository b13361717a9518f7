"""A work dir's recorded settings: what differs from a rerun's, and the atomic record."""
import json

from custom.engine.run_settings import changed_settings, record_settings


def test_nothing_recorded_means_nothing_changed(tmp_path):
    assert changed_settings(tmp_path / 'none.json', {'seed': 0}) == {}


def test_changed_values_and_names_on_either_side_are_listed_with_the_recorded_value(tmp_path):
    path = tmp_path / 'run' / 'settings.json'
    record_settings(path, {'config': 'a.py', 'seed': 0, 'epochs': 8, 'old': 1})
    assert json.loads(path.read_text()) == {'config': 'a.py', 'seed': 0, 'epochs': 8, 'old': 1}
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    assert changed_settings(path, {'config': 'a.py', 'seed': 0, 'epochs': 8, 'old': 1}) == {}
    assert changed_settings(path, {'config': 'a.py', 'seed': 1, 'epochs': 8, 'new': 2}) == \
        {'new': None, 'old': 1, 'seed': 0}
