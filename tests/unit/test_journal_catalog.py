"""The journal catalog the cleanup_timer role installs explains every MESSAGE_ID the code logs."""

import re
from pathlib import Path

from ansible_collections.reaper.systemd.plugins.module_utils import journal

CATALOG = Path(__file__).resolve().parents[2] / 'roles' / 'cleanup_timer' / 'files' / 'reaper-systemd.catalog'


def entries():
    """{message id: (header dict, body text)} as journalctl --update-catalog reads them."""
    found = {}
    text = CATALOG.read_text()
    for block in re.split(r'^-- ', text, flags=re.M)[1:]:
        first, rest = block.split('\n', 1)
        header_text, body = rest.split('\n\n', 1)
        headers = dict(line.split(': ', 1) for line in header_text.splitlines())
        assert first not in found, 'message id %s appears twice' % first
        found[first] = (headers, body.strip())
    return found


def test_every_message_id_has_exactly_one_entry():
    assert sorted(entries()) == sorted(journal.MESSAGE_IDS.values())


def test_entries_are_well_formed():
    for message_id, (headers, body) in entries().items():
        assert re.fullmatch(r'[0-9a-f]{32}', message_id)
        assert headers['Subject'].startswith('reaper.systemd ')
        assert headers['Defined-By'] == 'reaper.systemd'
        assert headers['Documentation'].startswith('https://')
        assert len(body) > 80, 'entry %s says too little' % message_id


def test_action_entries_name_the_action_and_show_the_reason():
    ids = entries()
    for kind in ('nudge_parent', 'restart_unit', 'kill_leftovers', 'kill_survivors', 'terminate_escaped',
                 'kill_worker_parent'):  # fmt: skip
        headers, body = ids[journal.MESSAGE_IDS[kind]]
        assert '(action %s' % kind in ' '.join(body.split())
        assert '@REASON@' in body and '@UNIT@' in headers['Subject'] + body
