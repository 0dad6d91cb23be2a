"""AAA plumbing: the RADIUS client (``radius``) and its dictionary (``dictionary``).

Used by the aaa_radius and auth_aaa modules (and later acc). See
:mod:`opensipsg.aaa.radius` for the client API.
"""
