#!/usr/bin/env bash
# --help tells the truth: every long option a program's getopt table knows
# appears in its --help text, and --help exits 0. Reads the option tables
# from the sources, so a new option without a line in --help fails here.
# An unknown option exits 2 with an error naming the command; so does a bad
# --prefix, and a file flag of natbed check naming a missing file.
set -u
src=${NATBED_SRC:?}
bin=${NATBED_BUILD:?}
fail=0
check() { # BINARY-AND-ARGS... -- SOURCE-FILE... (options in $skip not looked for)
	local args=() f out opt
	while [ "$1" != "--" ]; do args+=("$1"); shift; done
	shift
	out=$("${args[@]}" --help 2>&1) || { echo "FAIL: ${args[*]} --help exits non-zero"; fail=1; return; }
	for f in "$@"; do
		for opt in $(grep -o '{"[a-z][a-z-]*", *\(no\|required\|optional\)_argument' "$src/$f" | sed 's/{"\([^"]*\)".*/\1/'); do
			case " ${skip:-} " in *" $opt "*) continue ;; esac
			echo "$out" | grep -q -- "--$opt" || { echo "FAIL: ${args[*]} --help does not mention --$opt ($f)"; fail=1; }
		done
	done
}
check "$bin/emulator/natbed-emu" -- emulator/main.c
check "$bin/agents/natbed-stund" -- agents/stund.c
check "$bin/agents/natbed-stunclient" -- agents/stunclient.c
check "$bin/agents/natbed-stunload" -- agents/stunload.c
check "$bin/agents/natbed-agent" discover -- agents/agent_discover.c
check "$bin/agents/natbed-agent" methods -- agents/agent_methods.c
check "$bin/agents/natbed-rendezvous" -- agents/rdv_args.c
check "$bin/agents/natbed-agent" serve -- agents/agent_serve.c agents/agent.h
for c in connect clients; do
	check "$bin/agents/natbed-agent" "$c" -- "agents/agent_$c.c" agents/agent.h agents/agent_plan.h
done
for c in up down exec status ctl capture matrix; do
	check "$bin/cli/natbed" "$c" -- "cli/$c.c"
done
check "$bin/cli/natbed" check -- cli/check_cmd.c
check "$bin/cli/natbed" report -- cli/report_cmd.c
check "$bin/cli/natbed" sim -- cli/run_opts.c
# natbed run refuses natbed sim's own options (run_opts_parse)
skip="checkpoint-every checkpoint restore site-per-client" check "$bin/cli/natbed" run -- cli/run_opts.c
# an unknown option: exit 2, and the error names the command as its others do
for c in up down exec status ctl run matrix sim config capture report check; do
	rc=0
	first=$("$bin/cli/natbed" "$c" --no-such-option 2>&1 >/dev/null | head -1) || true
	"$bin/cli/natbed" "$c" --no-such-option >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || { echo "FAIL: natbed $c --no-such-option exits $rc, not 2"; fail=1; }
	[ "$first" = "natbed $c: unrecognized option '--no-such-option'" ] ||
		{ echo "FAIL: natbed $c --no-such-option says: $first"; fail=1; }
done
# a bad --prefix: exit 2, and the error names the command and the flag. The
# topology file is missing, so nothing would come up were the prefix let by.
m=/nonexistent/topology.yaml
for a in "up $m" down "exec h -- true" status "ctl stats" "run $m" "sim $m" "config --show $m" \
	"matrix -- true" "capture v"; do
	c=${a%% *}
	rc=0
	# shellcheck disable=SC2086 # $a is words on purpose
	first=$("$bin/cli/natbed" $c --prefix BAD ${a#"$c"} 2>&1 >/dev/null | head -1) || true
	# shellcheck disable=SC2086
	"$bin/cli/natbed" $c --prefix BAD ${a#"$c"} >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || { echo "FAIL: natbed $c --prefix BAD${a#"$c"} exits $rc, not 2"; fail=1; }
	case "$first" in
	"natbed $c: --prefix 'BAD': only a-z, 0-9 and '-' are allowed") ;;
	*) echo "FAIL: natbed $c --prefix BAD${a#"$c"} says: $first"; fail=1 ;;
	esac
done
# a missing file given to natbed check's --topology or --results: the flag named
for f in topology results; do
	rc=0
	first=$("$bin/cli/natbed" check --$f /nonexistent/f "$src" 2>&1 >/dev/null | head -1) || true
	"$bin/cli/natbed" check --$f /nonexistent/f "$src" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || { echo "FAIL: natbed check --$f /nonexistent/f exits $rc, not 2"; fail=1; }
	[ "$first" = "natbed check: --$f /nonexistent/f: No such file or directory" ] ||
		{ echo "FAIL: natbed check --$f /nonexistent/f says: $first"; fail=1; }
done
[ $fail -eq 0 ] || exit 1
echo "PASS: every long option is in its program's --help"
