# Helpers for benchmarks: where the build is, machine facts, and writing a section of
# docs/benchmarks.md (between <!-- NAME:begin --> and <!-- NAME:end -->).

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DOC=$BENCH_TOP/docs/benchmarks.md
BUILD=${BUILD:-$BENCH_TOP/build}
PLUGIN=$BUILD/nbdkit-blockwatch-plugin.so
BW=$BUILD/blockwatch

machine_facts() {
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r)"
  echo "- software: $(nbdkit --version), $(fio --version), libnbd $(pkg-config --modversion libnbd), Debian $(cat /etc/debian_version)"
  echo "- commit: $(git -C "$BENCH_TOP" rev-parse --short HEAD)$(git -C "$BENCH_TOP" diff --quiet || echo ' (with local changes)')"
}

# write_section NAME FILE: replace the section NAME with FILE's content.
write_section() {
  local name=$1 file=$2 tmp
  [ -f "$BENCH_DOC" ] || printf '# Benchmarks\n\nEvery figure below was produced by `make bench` (or the command shown) on the machine described with it; ratios compare against a baseline measured in the same run.\n' > "$BENCH_DOC"
  tmp=$(mktemp)
  awk -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" -v f="$file" '
    $0 == b { while ((getline l < f) > 0) print l; skip = 1; found = 1; next }
    $0 == e { skip = 0; next }
    !skip { print }
    END { if (!found) { print ""; while ((getline l < f) > 0) print l } }' "$BENCH_DOC" > "$tmp"
  mv "$tmp" "$BENCH_DOC"
}
