# scripts/proc.sh - process helpers sourced by demo.sh and bench/run-bench.sh.
# The sourcing script defines warn() (a message to stderr) and sets CURRENT=""
# (the pid of the command bounded() runs, for its cleanup trap).

# stop_pid PID: SIGTERM (a clean stop), wait up to 10 s, then SIGKILL.
stop_pid() {
    local p=$1
    [ -n "$p" ] || return 0
    # Only our own child: a pid that already exited may belong to someone else by now.
    [ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$$" ] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
}

# bounded [-o FILE] SECONDS CMD...: runs CMD with a time limit (its output into FILE
# with -o), in the background so that Ctrl+C reaches the caller's trap at once
# instead of after CMD finishes. Redirect with -o, not around the call: a trap that
# runs meanwhile would write into the redirection.
bounded() {
    local out="" secs rc
    if [ "$1" = -o ]; then out=$2; shift 2; fi
    secs=$1; shift
    if [ -z "$out" ]; then
        timeout --kill-after=10 "$secs" "$@" &
    else
        timeout --kill-after=10 "$secs" "$@" >"$out" 2>&1 &
    fi
    CURRENT=$!
    wait "$CURRENT"; rc=$?
    CURRENT=""
    [ "$rc" -eq 124 ] && warn "timed out after ${secs}s: $*"
    return "$rc"
}

# wait_until SECONDS CMD...: polls CMD until it succeeds or time runs out.
wait_until() {
    local end=$((SECONDS + $1)); shift
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}
