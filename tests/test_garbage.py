"""Holding off full collections: the thresholds always come back as they were."""

from __future__ import annotations

import gc
import threading

import pytest

from jmesos.core.garbage import rare_full_collections


@pytest.fixture(autouse=True)
def known_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_nested_blocks_raise_the_oldest_threshold_once_and_restore_it_at_the_end():
    with rare_full_collections():
        assert gc.get_threshold() == (700, 10, 1000)
        with rare_full_collections():
            assert gc.get_threshold() == (700, 10, 1000)
        assert gc.get_threshold() == (700, 10, 1000)  # the outer block still runs
    assert gc.get_threshold() == (700, 10, 10)


def test_an_error_in_the_block_restores_the_threshold():
    with pytest.raises(RuntimeError), rare_full_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_blocks_that_overlap_in_two_threads_restore_the_original():
    """The second block to start must not save the first one's raised value and restore that."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    held_after_first_left = []

    def first():
        with rare_full_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with rare_full_collections():
            second_in.set()
            first_out.wait(5)
            held_after_first_left.append(gc.get_threshold())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert held_after_first_left == [(700, 10, 1000)]  # still held for the block that remained
    assert gc.get_threshold() == (700, 10, 10)
