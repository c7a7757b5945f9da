"""The threads numpy's BLAS may use in this process.

A search's matrix products are small: a query against 1,000 re-ranked candidates, against the
2,048 sample rows that calibrate its relevance. One OpenBLAS thread does such a product in
~30 us; with OpenBLAS's default of one thread per core it took 8 ms on these 2 cores while one
core was busy elsewhere, each call waiting for its second thread to be scheduled
(docs/benchmarks.md, section 35). A server worker or a one-query command therefore caps BLAS at
its share of the cores, as it caps its model's threads.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS at ``threads`` threads (at least one) for the rest of this process."""
    threadpool_limits(limits=max(1, threads), user_api="blas")
