"""The cycle collector, set for bulk work (collector.py): collections are rarer, never switched off."""

from __future__ import annotations

import gc
import weakref

from rostersync_pipelines.collector import YOUNG, collect_in_bulk


class Node:
    pass


def test_cycles_are_still_collected_in_bulk_without_being_asked():
    before = gc.get_threshold()
    try:
        collect_in_bulk()
        assert gc.isenabled() and gc.get_threshold()[0] == YOUNG
        gc.collect()  # the young generation's count starts from nothing, whatever ran before
        first = Node()
        first.me = first  # a cycle: reference counting alone never frees it
        gone = weakref.ref(first)
        del first
        kept = [[] for _ in range(YOUNG // 2)]  # fewer new containers than a collection waits for
        assert gone() is not None  # (by default, one of the 70 collections these caused would free it)
        for _ in range(3 * YOUNG):  # past the threshold: the young generation is collected by itself
            node = Node()
            node.me = node
        assert gone() is None and len(kept) == YOUNG // 2
    finally:
        gc.set_threshold(*before)
