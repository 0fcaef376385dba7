#!/usr/bin/env bash
# Under CI=true a test that cannot run fails (exit 1) instead of skipping
# (exit 77, which ctest does not count as a failure): tests/lib.sh's
# nb_skip, nb_need and its root check, and the C test's skip(). Without
# CI=true (unset, empty or another value) they still skip.
. "$NATBED_SRC/tests/lib.sh"
nb_need setpriv

# A copy nobody can read: the checkout may sit where nobody cannot.
dir=$(mktemp -d "/tmp/natbed-ci.XXXXXX")
NB_CLEAN_DIR=$dir
trap 'rm -rf "$NB_CLEAN_DIR"; nb_teardown' EXIT
cp "$NATBED_SRC/tests/lib.sh" "$NATBED_BUILD/tests/integration/test_netns" "$dir/" ||
	nb_fail "cannot copy lib.sh and test_netns"
chmod 755 "$dir"

# expect STATUS WORDS CI-VALUE [nobody] CMD...: CMD, run with CI set to
# CI-VALUE (unset when "-"), as user nobody if asked, exits with STATUS and
# prints WORDS.
expect() {
	local want=$1 words=$2 ci=$3 out rc as=()
	shift 3
	if [ "$1" = nobody ]; then
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		shift
	fi
	if [ "$ci" = - ]; then
		out=$("${as[@]}" env -u CI "$@" 2>&1)
	else
		out=$("${as[@]}" env CI="$ci" "$@" 2>&1)
	fi
	rc=$?
	[ "$rc" -eq "$want" ] || nb_fail "CI=$ci ${as[*]} $*: exit $rc, want $want: $out"
	echo "$out" | grep -qF -- "$words" || nb_fail "CI=$ci ${as[*]} $*: no '$words' in: $out"
}
lib=$dir/lib.sh

for ci in - "" false 1; do
	expect 77 "SKIP: probe reason" "$ci" bash -c ". '$lib'; nb_skip probe reason"
	expect 77 "SKIP: natbed-no-such-tool not installed" "$ci" bash -c ". '$lib'; nb_need natbed-no-such-tool"
	expect 77 "SKIP: needs root" "$ci" nobody bash -c ". '$lib'"
	expect 77 "SKIP: needs root" "$ci" nobody "$dir/test_netns"
done
expect 1 "CI=true forbids skipping: probe reason" true bash -c ". '$lib'; nb_skip probe reason"
expect 1 "CI=true forbids skipping: natbed-no-such-tool not installed" true \
	bash -c ". '$lib'; nb_need natbed-no-such-tool"
expect 1 "CI=true forbids skipping: needs root" true nobody bash -c ". '$lib'"
expect 1 "CI=true forbids skipping: needs root" true nobody "$dir/test_netns"
# a test that runs is not affected
expect 0 "PASS: ran" true bash -c ". '$lib'; nb_pass ran"
nb_pass "under CI=true a skip fails (lib.sh and the C test); otherwise it skips"
