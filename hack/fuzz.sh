#!/usr/bin/env bash
# Runs every fuzz target of the module, found by `go test -list`, for
# FUZZTIME each (default 10s): `make fuzz`, or FUZZTIME=1m make fuzz.
# A failing input is written under the package's testdata/fuzz/<Target>/,
# where `go test` replays it from then on; commit it with the fix.
set -euo pipefail
FUZZTIME="${FUZZTIME:-10s}"
cd "$(dirname "$0")/.."

# Packages with a fuzz target: a test file declaring func FuzzXxx(f *testing.F).
mapfile -t dirs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	xargs -n1 dirname | sort -u)
if [ "${#dirs[@]}" -eq 0 ]; then
	echo "no fuzz targets" >&2
	exit 1
fi
ran=0
failed=()
for dir in "${dirs[@]}"; do
	mapfile -t targets < <(go test -list '^Fuzz' "$dir" | grep '^Fuzz' || true)
	for target in "${targets[@]}"; do
		echo "== $dir $target ($FUZZTIME)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$dir"; then
			failed+=("$dir $target")
		fi
		ran=$((ran + 1))
	done
done
echo "fuzzed $ran targets for $FUZZTIME each"
if [ "${#failed[@]}" -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
