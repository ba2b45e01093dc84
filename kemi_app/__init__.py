"""Agent Edge: the routing brain that runs inside Kamailio through KEMI (app_python3)."""
