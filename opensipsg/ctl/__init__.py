"""opensipsctl: the OpenSIPS 1.6 control tool for opensipsg (synchronous: no gevent)."""
