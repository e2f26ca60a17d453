#!/bin/sh
# Every benchmark at its documented size, one after another (run them serially: the
# machine's cores are shared by the bot, its database and the load generator). From the
# repository root:  bench/run_all.sh   (results: bench/results/*.json; about 70 minutes)
# PostgreSQL: 127.0.0.1:5432, user postgres (VALUESBOT_BENCH_PG_URL to change).
set -eu
cd "$(dirname "$0")/.."
python=.venv/bin/python
run() {
    echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$python" -m "$@"
}
# What a person waits for: the visible answer at 10, 50 (below) and 200 people; /values alone,
# beside a minimal Bolt app on the same load, in alternation (bolt, SQLite, PostgreSQL; 3 rounds).
for db in sqlite postgresql; do
    run bench.ack_latency --db "$db" --clients 10
    run bench.ack_latency --db "$db" --clients 200
done
run bench.side_by_side
for module in bench.ack_latency bench.answers; do
    if [ -f "$(echo "$module" | tr . /).py" ]; then
        run "$module" --db sqlite
        run "$module" --db postgresql
    fi
done
# The answer burst's thanks beside a minimal Bolt app (the same clicks on valuesbot's cards), and
# with people answering at 50, 200 and 400 a second whatever the answers (an open loop).
run bench.answers --app bolt
for rate in 50 200 400; do
    run bench.answers --app bolt --rate "$rate"
    run bench.answers --db sqlite --rate "$rate"
    run bench.answers --db postgresql --rate "$rate"
done
run bench.fanout --platform slack --db sqlite
run bench.fanout --platform teams --db sqlite
run bench.fanout --platform slack --db postgresql
run bench.fanout --platform teams --db postgresql
run bench.fanout --platform slack --db sqlite --unlimited
run bench.fanout --platform slack --db postgresql --unlimited
run bench.fanout --platform teams --db sqlite --unlimited
run bench.fanout --platform teams --db postgresql --unlimited
# A sequential sender as the platforms' samples write it, against valuesbot, at the same limit.
run bench.peers_fanout --platform slack --db sqlite
run bench.peers_fanout --platform teams --db sqlite
if [ -f bench/national.py ]; then
    run bench.national
fi
# The plan of a national round at Teams' limit, against the worker on a compressed clock.
run bench.national_plan
run bench.cost_curve --sizes 6500,65000,650000
run bench.mixed --db sqlite
run bench.mixed --db postgresql
run bench.instances --platform slack
run bench.instances --platform teams
