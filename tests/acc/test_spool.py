"""The durable spool: order, once-per-row delivery, back-off signals, restarts."""
from __future__ import annotations

import os

from opensipsg.acc.spool import DELIVERED, REJECT, RETRY, Deliverer, Spool


class Server:
    """A sender that is up or down; records what it acknowledged."""

    def __init__(self) -> None:
        self.up = True
        self.got: list[int] = []
        self.refuse: set[int] = set()

    def __call__(self, payload, created, attempts):
        if not self.up:
            return RETRY, "down"
        if payload["n"] in self.refuse:
            return REJECT, "bad column"
        self.got.append(payload["n"])
        return DELIVERED, ""


def test_spool_dir_is_created(tmp_path):
    target = tmp_path / "a" / "b"
    spool = Spool(str(target))
    assert os.path.isfile(spool.path)
    spool.close()


def test_in_order_once_each_and_kept_while_down(tmp_path):
    spool = Spool(str(tmp_path))
    server = Server()
    deliverer = Deliverer(spool, "aaa", server)
    server.up = False
    for n in range(5):
        spool.enqueue("aaa", {"n": n})
    assert deliverer.deliver_some() == (0, True)
    assert deliverer.deliver_some() == (0, True)
    assert spool.count("aaa") == 5
    assert spool.head("aaa")[0][3] == 2  # attempts counted on the head row
    server.up = True
    assert deliverer.deliver_some() == (5, False)
    assert server.got == [0, 1, 2, 3, 4]
    assert deliverer.deliver_some() == (0, False)
    assert server.got == [0, 1, 2, 3, 4]
    spool.close()


def test_backends_are_independent(tmp_path):
    spool = Spool(str(tmp_path))
    db, aaa = Server(), Server()
    db.up = False
    spool.enqueue("db", {"n": 1})
    spool.enqueue("aaa", {"n": 2})
    assert Deliverer(spool, "db", db).deliver_some() == (0, True)
    assert Deliverer(spool, "aaa", aaa).deliver_some() == (1, False)
    assert aaa.got == [2] and spool.count("db") == 1
    spool.close()


def test_restart_keeps_the_spool_and_resumes(tmp_path):
    spool = Spool(str(tmp_path))
    for n in range(3):
        spool.enqueue("db", {"n": n})
    server = Server()
    server.up = False
    Deliverer(spool, "db", server).deliver_some()
    spool.close()  # the process goes away
    again = Spool(str(tmp_path))
    assert again.count("db") == 3
    server.up = True
    Deliverer(again, "db", server).deliver_some()
    assert server.got == [0, 1, 2] and again.count() == 0
    again.enqueue("db", {"n": 3})  # ids keep increasing after a restart
    Deliverer(again, "db", server).deliver_some()
    assert server.got == [0, 1, 2, 3]
    again.close()


def test_a_refused_row_is_buried_and_does_not_block(tmp_path):
    spool = Spool(str(tmp_path))
    server = Server()
    server.refuse = {1}
    for n in range(3):
        spool.enqueue("db", {"n": n})
    assert Deliverer(spool, "db", server).deliver_some() == (3, False)
    assert server.got == [0, 2] and spool.dead_count() == 1 and spool.count() == 0
    spool.close()


def test_greenlet_delivers_after_the_server_comes_back(tmp_path):
    import gevent

    spool = Spool(str(tmp_path))
    server = Server()
    server.up = False
    deliverer = Deliverer(spool, "aaa", server, min_backoff=0.01, max_backoff=0.05)
    deliverer.start()
    try:
        for n in range(4):
            spool.enqueue("aaa", {"n": n})
            deliverer.wake()
        gevent.sleep(0.1)
        assert server.got == []
        server.up = True
        with gevent.Timeout(10):
            while len(server.got) < 4:
                gevent.sleep(0.01)
        assert server.got == [0, 1, 2, 3]
        spool.enqueue("aaa", {"n": 4})
        deliverer.wake()
        with gevent.Timeout(10):
            while len(server.got) < 5:
                gevent.sleep(0.01)
    finally:
        deliverer.stop()
        spool.close()
    assert server.got == [0, 1, 2, 3, 4]
