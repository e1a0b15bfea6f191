#!/usr/bin/env bash
# Copy the collection's files into DEST (a path ending in ansible_collections/reaper/systemd)
# for ansible-test, which needs that path, refuses directory symlinks and lints what git lists.
#
#   tools/sanity-tree.sh SRC DEST
#
# The files copied are the ones git knows: tracked files plus untracked ones that are not
# ignored, so the check works before a commit. DEST becomes its own git repository with
# every copied file added. DEST/tests/output (ansible-test's results and its delegation
# virtualenv) is kept between runs so later runs are faster.
set -euo pipefail

src=$(cd "$1" && pwd)
dest=$2

case "$dest" in
    */ansible_collections/reaper/systemd) ;;
    *) echo "sanity-tree: DEST must end in ansible_collections/reaper/systemd: $dest" >&2; exit 2 ;;
esac

keep="$dest.output-keep"
rm -rf "$keep"
if [[ -d $dest/tests/output ]]; then
    mv "$dest/tests/output" "$keep"
fi
rm -rf "$dest"
mkdir -p "$dest"

list=$(mktemp)
trap 'rm -f "$list"' EXIT
(
    cd "$src"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            # tracked files deleted in the work tree are skipped
            if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
        done
) >"$list"

tar -C "$src" --null --no-recursion -T "$list" -cf - | tar -C "$dest" -xf -

if [[ -d $keep ]]; then
    mkdir -p "$dest/tests"
    mv "$keep" "$dest/tests/output"
fi

cd "$dest"
git init -q .
git add .
echo "sanity-tree: $(git ls-files | wc -l) files in $dest"
