"""Straightforward senders, written as the platforms' samples write them, to compare
``valuesbot serve``'s fan-out with (``bench.peers_fanout``)."""
