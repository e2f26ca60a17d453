#!/bin/sh
# Every benchmark of issue 8 at the issue's sizes, one after another (run them serially: the
# machine's cores are shared by the bot, its database and the load generator). From the
# repository root:  bench/run_all.sh   (results: bench/results/*.json; about 50 minutes)
# PostgreSQL: 127.0.0.1:5432, user postgres (VALUESBOT_BENCH_PG_URL to change).
set -eu
cd "$(dirname "$0")/.."
python=.venv/bin/python
run() {
    echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$python" -m "$@"
}
for module in bench.ack_latency bench.answers; do
    if [ -f "$(echo "$module" | tr . /).py" ]; then
        run "$module" --db sqlite
        run "$module" --db postgresql
    fi
done
run bench.fanout --platform slack --db sqlite
run bench.fanout --platform teams --db sqlite
run bench.fanout --platform slack --db postgresql
run bench.fanout --platform teams --db postgresql
run bench.fanout --platform slack --db sqlite --unlimited
run bench.fanout --platform slack --db postgresql --unlimited
run bench.fanout --platform teams --db sqlite --unlimited
run bench.fanout --platform teams --db postgresql --unlimited
if [ -f bench/national.py ]; then
    run bench.national
fi
run bench.mixed --db sqlite
run bench.mixed --db postgresql
run bench.instances --platform slack
run bench.instances --platform teams
