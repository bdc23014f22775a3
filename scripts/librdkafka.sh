#!/usr/bin/env bash
# A modern librdkafka (>= 2.2) for machines whose distribution ships an older one (Debian 12: 2.0.2,
# which cannot talk to KRaft-mode Kafka or to Tansu). The library is the one Confluent builds for its
# Python client: `librdkafka.so.1` from the `confluent-kafka` wheel on PyPI (wheel 2.3.0 holds
# librdkafka 2.3.0; a wheel's patch release may hold an earlier patch: 2.16.1 holds 2.16.0). It is self-contained (its own OpenSSL, SASL, zstd, lz4) and ABI-compatible with the
# 2.0.2 headers the scorer is compiled against, so the same binaries load it at run time through
# LD_LIBRARY_PATH; no rebuild. README.md ("A modern librdkafka") explains the choice.
#
#   scripts/librdkafka.sh install [VERSION]       put it in .build-librdkafka/VERSION/lib, print that folder
#   scripts/librdkafka.sh exec [VERSION] -- CMD   run CMD with it (installing it first if needed)
#
# VERSION is the confluent-kafka wheel's; it defaults to $LIBRDKAFKA_VERSION, else 2.3.0: the
# version the Docker image links and CI tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

command="${1:-}"
[ -n "$command" ] || usage
shift
version="${LIBRDKAFKA_VERSION:-2.3.0}"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  version="$1"
  shift
fi
[ "${1:-}" = "--" ] && shift
case "$version" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "librdkafka.sh: version must look like 2.3.0, got '$version'" >&2; exit 2 ;;
esac
libdir="$root/.build-librdkafka/$version/lib"

# Prints the version string of the librdkafka at $1 (rd_kafka_version_str).
loaded_version() {
  python3 -c 'import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.rd_kafka_version_str.restype = ctypes.c_char_p
print(lib.rd_kafka_version_str().decode())' "$1"
}

# Whether librdkafka version $1 is of the requested version's major.minor line.
same_line() {
  [ "${1%.*}" = "${version%.*}" ]
}

install() {
  if [ -f "$libdir/librdkafka.so.1" ] && same_line "$(loaded_version "$libdir/librdkafka.so.1")"; then
    return 0
  fi
  echo "librdkafka.sh: fetching librdkafka $version (the confluent-kafka $version wheel from PyPI)" >&2
  local work
  work="$(mktemp -d "$root/.build-librdkafka.tmp.XXXXXX")"
  trap 'rm -rf "$work"' RETURN
  # --no-cache-dir: nothing is kept outside the repository.
  if ! python3 -m pip download -q --no-deps --no-cache-dir --only-binary=:all: -d "$work" "confluent-kafka==$version" >&2; then
    echo "librdkafka.sh: no confluent-kafka $version wheel for this Python/platform on PyPI; pick another version (LIBRDKAFKA_VERSION=...)" >&2
    return 1
  fi
  mkdir -p "$libdir"
  python3 - "$work"/confluent_kafka-*.whl "$libdir/librdkafka.so.1" <<'EOF'
import re, shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    names = [n for n in archive.namelist() if re.search(r"(^|/)librdkafka[^/]*\.so\.1$", n)]
    if len(names) != 1:
        sys.exit(f"librdkafka.sh: expected one librdkafka .so.1 in {wheel}, found {names}")
    with archive.open(names[0]) as source, open(target + ".part", "wb") as out:
        shutil.copyfileobj(source, out)
shutil.move(target + ".part", target)
EOF
  local got
  got="$(loaded_version "$libdir/librdkafka.so.1")"
  if ! same_line "$got"; then
    echo "librdkafka.sh: the confluent-kafka $version wheel holds librdkafka $got, not $version" >&2
    rm -f "$libdir/librdkafka.so.1"
    return 1
  fi
}

case "$command" in
  install)
    install
    echo "librdkafka.sh: librdkafka $(loaded_version "$libdir/librdkafka.so.1") in $libdir" >&2
    echo "$libdir"
    ;;
  exec)
    [ $# -gt 0 ] || usage
    install
    export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    exec "$@"
    ;;
  *) usage ;;
esac
