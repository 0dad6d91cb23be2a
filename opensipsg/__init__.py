"""opensipsg: a SIP proxy, registrar and redirect server that speaks OpenSIPS 1.6."""

__version__ = "0.1.0"
# the version string OpenSIPS users expect from `-V` and the MI `version` command
SERVER_NAME = "opensipsg"
