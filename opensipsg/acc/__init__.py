"""Accounting (the acc module's machinery).

- :mod:`.record`   pure: records, Sip-Method bits, Acct-Status-Type, extras syntax,
                   the log line, DB rows and RADIUS attributes as 1.6 builds them
- :mod:`.spool`    the durable on-disk spool and its ordered, asynchronous delivery
- :mod:`.backends` the database and RADIUS senders the spool delivers with
- :mod:`.cdr`      CDRs from acc's INVITE/BYE rows, and the CLI helpers

The script-facing module is :mod:`opensipsg.modules.acc`.
"""
