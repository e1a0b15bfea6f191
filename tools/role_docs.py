"""Write the variables table of each role's README from its meta/argument_specs.yml.

The argument specs are what Ansible checks a role's variables against, so they are the one
source of truth; the README only shows them. The table sits between two marker lines in
roles/<role>/README.md and everything else in the README is left as written.

    python3 tools/role_docs.py           rewrite the tables (make role-docs)
    python3 tools/role_docs.py --check   exit 1 and show the difference if a table is stale
"""

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN = '<!-- BEGIN VARIABLES: generated from meta/argument_specs.yml by `make role-docs`, do not edit -->'
END = '<!-- END VARIABLES -->'

# Ansible's documentation markup (C(), O(), V(), M(), I(), B(), U(), L()) as Markdown.
_MARKUP = [
    (re.compile(r'\b[COVME]\(([^()]*(?:\([^()]*\)[^()]*)*)\)'), r'`\1`'),
    (re.compile(r'\bI\(([^()]*)\)'), r'*\1*'),
    (re.compile(r'\bB\(([^()]*)\)'), r'**\1**'),
    (re.compile(r'\bU\(([^()]*)\)'), r'<\1>'),
    (re.compile(r'\bL\(([^(),]*),\s*([^()]*)\)'), r'[\1](\2)'),
]


def markdown(text):
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text


def cell(text):
    """One Markdown table cell: no line breaks, pipes escaped."""
    return ' '.join(str(text).split()).replace('|', '\\|')


def describe(spec):
    description = spec.get('description', '')
    if isinstance(description, list):
        description = ' '.join(description)
    return markdown(description)


def default_of(spec):
    if 'default' not in spec:
        return '*required*' if spec.get('required') else ''
    return '`%s`' % json.dumps(spec['default'])


def type_of(spec):
    kind = spec.get('type', 'str')
    if kind == 'list' and spec.get('elements'):
        kind = 'list of %s' % spec['elements']
    if spec.get('choices'):
        kind += '; one of ' + ', '.join('`%s`' % choice for choice in spec['choices'])
    return kind


def rows(options, prefix=''):
    for name in options:
        spec = options[name] or {}
        yield '| `%s%s` | %s | %s | %s |' % (
            prefix,
            name,
            cell(type_of(spec)),
            cell(default_of(spec)),
            cell(describe(spec)),
        )
        if spec.get('options'):
            yield from rows(spec['options'], prefix='%s%s.' % (prefix, name))


def table(role_dir):
    specs = yaml.safe_load((role_dir / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
    lines = [BEGIN]
    for entry_point in sorted(specs):
        spec = specs[entry_point]
        if len(specs) > 1 or entry_point != 'main':
            lines += ['', '### Entry point `%s`' % entry_point]
        lines += ['', cell(markdown(spec.get('short_description', ''))), '']
        lines += ['| variable | type | default | description |', '| --- | --- | --- | --- |']
        lines += list(rows(spec.get('options') or {}))
    lines += ['', END]
    return '\n'.join(lines)


def rendered(readme_text, role_dir):
    """The README with its generated table brought up to date."""
    start, stop = readme_text.find(BEGIN), readme_text.find(END)
    if start < 0 or stop < start:
        raise SystemExit('%s: the markers %r and %r are missing' % (role_dir / 'README.md', BEGIN, END))
    return readme_text[:start] + table(role_dir) + readme_text[stop + len(END) :]


def role_dirs(root):
    return sorted(path.parent.parent for path in root.glob('roles/*/meta/argument_specs.yml'))


def stale(root):
    """(readme path, current text, expected text) for each README that is out of date."""
    found = []
    for role_dir in role_dirs(root):
        readme = role_dir / 'README.md'
        current = readme.read_text() if readme.exists() else ''
        if not current:
            raise SystemExit('%s is missing: every role needs a README with the variable markers' % readme)
        expected = rendered(current, role_dir)
        if expected != current:
            found.append((readme, current, expected))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only report stale READMEs (exit 1)')
    parser.add_argument('--root', type=Path, default=ROOT, help='collection root (default: this checkout)')
    args = parser.parse_args(argv)
    out_of_date = stale(args.root)
    for readme, current, expected in out_of_date:
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(True), expected.splitlines(True), str(readme), str(readme) + ' (expected)'
                )
            )
        else:
            readme.write_text(expected)
            print('role-docs: rewrote the variables of %s' % readme.relative_to(args.root))
    if args.check and out_of_date:
        print('role-docs: out of date; run `make role-docs`', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
