#!/usr/bin/env bash
# Every invalid topology in tests/data/bad-*.yaml: `natbed up` exits 2 with
# "FILE:LINE: key" as the file's "# expect:" comment says, and builds nothing.
. "$NATBED_SRC/tests/lib.sh"
n=0
for f in "$NATBED_SRC"/tests/data/bad-*.yaml; do
	[ -e "$f" ] || nb_fail "no bad-*.yaml files in tests/data"
	key=$(sed -n 's/^# expect: \([^:]*\):.*/\1/p' "$f" | head -1)
	line=$(sed -n 's/^# expect-line: \([0-9]*\).*/\1/p' "$f" | head -1)
	[ -n "$key" ] && [ -n "$line" ] || nb_fail "$f: no '# expect:' / '# expect-line:' comment"
	out=$(natbed up --prefix "$NB_PREFIX" --out "$NB_TMP/out" "$f" 2>&1); rc=$?
	[ $rc -eq 2 ] || nb_fail "$f: exit $rc, want 2 ($out)"
	echo "$out" | grep -qF "$f:$line: $key" || nb_fail "$f: want '$f:$line: $key', got: $out"
	[ -z "$(ip netns list | grep "^$NB_PREFIX")" ] || nb_fail "$f: namespaces built from an invalid file"
	[ ! -e "/run/natbed/$NB_PREFIX" ] || nb_fail "$f: state left from an invalid file"
	n=$((n + 1))
done
[ $n -ge 12 ] || nb_fail "only $n invalid topology files, want >= 12"
nb_pass "$n invalid topologies refused, nothing built"
