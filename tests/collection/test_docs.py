"""The documentation users read with the installed collection agrees with itself."""

import textwrap

import yaml


def _site_yml(installed):
    return (installed / 'docs' / 'examples' / 'site.yml').read_text().split('---\n', 1)[1]


def test_readme_shows_the_site_yml_example_that_is_tested(installed):
    body = _site_yml(installed)
    body = body[body.index('- name:') :]
    assert body in (installed / 'README.md').read_text()


def test_docsite_guides_exist_and_show_the_tested_site_yml(installed):
    docsite = installed / 'docs' / 'docsite'
    sections = yaml.safe_load((docsite / 'extra-docs.yml').read_text())['sections']
    refs = [ref for section in sections for ref in section['toctree']]
    assert refs
    for ref in refs:
        page = (docsite / 'rst' / (ref + '.rst')).read_text()
        assert page.startswith('.. _ansible_collections.reaper.systemd.docsite.%s:\n' % ref)
    body = _site_yml(installed)
    body = body[body.index('- name:') :]
    assert textwrap.indent(body, '    ') in (docsite / 'rst' / 'guide_site_yml.rst').read_text()


def test_docsite_links_point_at_the_collection_repository(installed):
    links = yaml.safe_load((installed / 'docs' / 'docsite' / 'links.yml').read_text())
    manifest = yaml.safe_load((installed / 'MANIFEST.json').read_text())
    repository = manifest['collection_info']['repository']
    assert repository.endswith('/' + links['edit_on_github']['repository'])
    for link in links['extra_links']:
        assert link['url'].startswith(repository + '/')


def test_readme_leads_with_installing_and_keeps_make_for_checkouts(installed):
    readme = (installed / 'README.md').read_text()
    install = readme.index('ansible-galaxy collection install')
    assert install < readme.index('make ')
    assert readme.index('## Working on the collection') < readme.index('make audit')
    for role in ('killmode_hardening', 'cleanup_timer'):
        assert (installed / 'roles' / role / 'README.md').is_file()
