"""The HTTP transport both hooks share, one concept per module.

* :mod:`.deadline`: the :class:`~.deadline.Deadline` value each hook call hands down;
* :mod:`.body`: the reply body size cap (compressed and inflated);
* :mod:`.retry`: when to retry, how long to wait, what a failed request means;
* :mod:`.pool`: pooled async clients per event loop and host, and a session's share of one;
* :mod:`.auth` and :mod:`.secrets`: OAuth2, bearer and Vault session auth, and secret masking;
* :mod:`.session`: :class:`~.session.HttpSession`, which drives exchanges (async);
* :mod:`.blocking`: sync calls, run on one event loop per process;
* :mod:`.clock_skew`: the service's clock, measured from ``Date`` headers, for warnings.

Process-wide state (token and session caches, the client pool) lives in
:mod:`clinical_rules_provider._state`; the blocking-call loop is the one exception (a loop
and its thread, never reset).
"""
