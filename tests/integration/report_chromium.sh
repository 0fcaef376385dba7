#!/usr/bin/env bash
# report.html renders in headless Chromium with no console message at all
# (the page has no script, so any message is an error: a refused fetch, a
# parse problem), its matrix is in the rendered DOM with a known cell, the
# gate's section (auth times per trust level) is there for a run with gated
# hosts and absent for one without, and a screenshot is kept in
# build/test-output/report_chromium/. Host names full
# of markup show as text and add no element. A page with a console error
# must trip the same check, so the check can fail. `natbed report` itself:
# --help names every option, --matrix prints plain when piped, exit statuses.
# Chromium never reaches the network: the page is a local file that fetches
# nothing (its Content-Security-Policy forbids it), background networking is
# off, and no host name resolves.
. "$(dirname "$0")/../lib.sh"
nb_need chromium grep python3 jq
gen="$NATBED_BUILD/tests/integration/results_gen"
out="$NATBED_BUILD/test-output/report_chromium"
[ -x "$gen" ] || nb_fail "$gen not built"
rm -rf "$out"
mkdir -p "$out"

# chrome NAME URL FLAG...: one headless run with a new empty profile;
# stderr (with console messages) in $NB_TMP/NAME.log
chrome() {
	local name=$1 url=$2
	shift 2
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--host-resolver-rules='MAP * ~NOTFOUND' --user-data-dir="$(mktemp -d "$NB_TMP/prof.XXXXXX")" \
		--enable-logging=stderr --v=0 --window-size=1280,2000 "$@" "$url" 2>"$NB_TMP/$name.log"
}
# console NAME: the console lines Chromium logged
console() { grep -E ':CONSOLE(:|\()' "$NB_TMP/$1.log"; }

# the check can fail: a page with a console error and a script error
cat >"$NB_TMP/bad.html" <<'HTML'
<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>bad</p>
<script>console.error("natbed-test-bad"); nosuchfunction();</script></body></html>
HTML
chrome bad "file://$NB_TMP/bad.html" --dump-dom >/dev/null || nb_fail "chromium did not run: $(tail -5 "$NB_TMP/bad.log")"
console bad | grep -q natbed-test-bad && console bad | grep -q nosuchfunction ||
	nb_fail "a page's console error did not show in chromium's log: the check cannot see errors"
nb_pass "a console error shows in the log"

# the report of a generated run, three of its hosts behind gates
known=$("$gen" --seed 3 --reps 2 --gate "$out") || nb_fail "results_gen"
read -r _ ka kb kwin kms kunit <<<"$known"
natbed report -o "$out/report.html" "$out/results.json" >/dev/null 2>"$NB_TMP/report.err" ||
	nb_fail "natbed report: $(cat "$NB_TMP/report.err")"
if grep -Eq '://|<script|<link|<img|src=|href=|url\(|@import' "$out/report.html"; then
	nb_fail "report.html refers to something outside itself: $(grep -Eo '.{20}(://|<script|<link|<img|src=|href=|url\(|@import).{20}' "$out/report.html" | head -3)"
fi
chrome page "file://$out/report.html" --dump-dom >"$out/dom.html" || nb_fail "chromium --dump-dom failed: $(tail -5 "$NB_TMP/page.log")"
chrome shot "file://$out/report.html" --screenshot="$out/report.png" >/dev/null ||
	nb_fail "chromium --screenshot failed: $(tail -5 "$NB_TMP/shot.log")"
cp "$NB_TMP/page.log" "$out/chromium.log"
if console page || console shot; then
	nb_fail "the report logged console messages (above)"
fi
grep -q '<svg id="matrix"' "$out/dom.html" || nb_fail "the rendered page has no matrix"
[ "$(grep -o '<g class="cell"' "$out/dom.html" | wc -l)" -eq 25 ] ||
	nb_fail "the matrix does not have 5 x 5 cells"
cell=$(grep -o "<g class=\"cell\" data-a=\"$ka\" data-b=\"$kb\" data-winner=\"$kwin\">.*</g>" "$out/dom.html")
[ -n "$cell" ] || nb_fail "no cell $ka -> $kb won by $kwin in the rendered matrix"
grep -q "$kms $kunit</text>" <<<"$cell" || nb_fail "cell $ka -> $kb does not show $kms $kunit: $cell"
for chart in rates setup flows; do
	grep -q "<svg id=\"$chart\"" "$out/dom.html" || nb_fail "no $chart chart in the rendered page"
done
# the gate: a row of the auth chart and of the table per trust level the
# results name, and the share of attempts the gate stopped
grep -q '<section id="gate">' "$out/dom.html" || nb_fail "the rendered page has no gate section"
levels=$(jq -r '.gate.levels[].trust // ""' "$out/results.json")
[ "$(wc -l <<<"$levels")" -ge 3 ] || nb_fail "the generated run has fewer than 3 trust levels: $levels"
for l in $levels; do
	grep -q "<g class=\"dist\" data-trust=\"$l\">" "$out/dom.html" ||
		nb_fail "no auth-time row for trust level $l in the rendered page"
	grep -q "<tr data-trust=\"$l\">" "$out/dom.html" || nb_fail "no table row for trust level $l"
done
gated=$(jq -r '.gate.attempts' "$out/results.json")
failed=$(jq -r '.gate.failed' "$out/results.json")
grep -q "$gated of $(jq '.attempts | length' "$out/results.json") attempts met a gate; $failed of them failed at the gate" "$out/dom.html" ||
	nb_fail "the page does not say $failed of $gated gated attempts failed at the gate"
[ "$(head -c 8 "$out/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
	[ "$(stat -c %s "$out/report.png")" -gt 20000 ] || nb_fail "no screenshot in $out/report.png"
nb_pass "report.html renders without a console message; matrix cell $ka -> $kb: $kwin $kms $kunit; screenshot $out/report.png"

# the command by hand: --help names every option of its table, the matrix
# prints plain when piped, bad usage exits 2, a file it cannot read exits 1
help=$(natbed report --help) || nb_fail "natbed report --help exits non-zero"
opts=$(grep -c '_argument, NULL' "$NATBED_SRC/cli/report_cmd.c")
[ "$opts" -ge 3 ] || nb_fail "cannot read report_cmd.c's option table"
for opt in $(grep -o '{"[a-z][a-z-]*", *\(no\|required\)_argument' "$NATBED_SRC/cli/report_cmd.c" |
	sed 's/{"\([^"]*\)".*/\1/'); do
	grep -q -- "--$opt" <<<"$help" || nb_fail "natbed report --help does not mention --$opt"
done
natbed report --matrix -o "$NB_TMP/m.html" "$out/results.json" >"$NB_TMP/matrix.txt" 2>/dev/null ||
	nb_fail "natbed report --matrix"
grep -q "^$ka .*$kwin $kms $kunit" "$NB_TMP/matrix.txt" || nb_fail "the text matrix lacks $ka: $(cat "$NB_TMP/matrix.txt")"
grep -q $'\e' "$NB_TMP/matrix.txt" && nb_fail "the text matrix is coloured when piped"
for l in $levels; do
	grep -q "^gate: $l " "$NB_TMP/matrix.txt" || nb_fail "natbed report --matrix prints no line for trust level $l"
done
natbed report >/dev/null 2>&1
[ $? -eq 2 ] || nb_fail "natbed report without a file does not exit 2"
natbed report "$NB_TMP/nonexistent.json" 2>"$NB_TMP/err.txt"
[ $? -eq 1 ] && grep -q nonexistent.json "$NB_TMP/err.txt" || nb_fail "an unreadable file: $(cat "$NB_TMP/err.txt")"
# a run's directory stands for its results.json, the page written beside it
mkdir -p "$NB_TMP/rundir"
cp "$out/results.json" "$NB_TMP/rundir/"
natbed report "$NB_TMP/rundir" 2>"$NB_TMP/err.txt" >/dev/null &&
	cmp -s "$NB_TMP/rundir/report.html" "$out/report.html" ||
	nb_fail "natbed report DIR: $(cat "$NB_TMP/err.txt"), or not the page of DIR/results.json"
mkdir -p "$NB_TMP/empty"
natbed report "$NB_TMP/empty" 2>"$NB_TMP/err.txt"
[ $? -eq 1 ] && grep -q "$NB_TMP/empty/results.json" "$NB_TMP/err.txt" ||
	nb_fail "a directory without results.json: $(cat "$NB_TMP/err.txt")"
nb_pass "natbed report: --help, --matrix, a run's directory, exit statuses"

# hostile host names: shown as text, no element added
mkdir -p "$NB_TMP/x"
"$gen" --seed 3 --hostile "$NB_TMP/x" >/dev/null || nb_fail "results_gen --hostile"
natbed report "$NB_TMP/x/results.json" >/dev/null 2>&1 || nb_fail "natbed report (hostile names)"
chrome hostile "file://$NB_TMP/x/report.html" --dump-dom >"$NB_TMP/x/dom.html" ||
	nb_fail "chromium --dump-dom failed (hostile names)"
console hostile && nb_fail "the report with hostile names logged console messages (above)"
# the elements of the rendered page, as the browser's DOM holds them
elements=$(python3 -c '
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def handle_starttag(self, tag, attrs):
        print(tag)
P().feed(open(sys.argv[1]).read())' "$NB_TMP/x/dom.html" | sort -u | tr '\n' ' ')
for e in script b img; do
	grep -qw "$e" <<<"$elements" && nb_fail "a host name injected a <$e> element (elements: $elements)"
done
grep -qw svg <<<"$elements" || nb_fail "the element list is wrong: $elements"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$NB_TMP/x/dom.html" ||
	nb_fail "the hostile host name is not shown as text"
[ "$(grep -o '<g class="cell"' "$NB_TMP/x/dom.html" | wc -l)" -eq 25 ] ||
	nb_fail "hostile names changed the matrix"
grep -q 'id="gate"' "$NB_TMP/x/dom.html" && nb_fail "a run without gates has a gate section"
nb_pass "host names with <, & and quotes render as text"
