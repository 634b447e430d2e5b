"""Re-export the simulator connection and fake-TI fixtures of ``tests/operators/conftest.py``."""

from tests.operators.conftest import context as context
from tests.operators.conftest import fast_jobs as fast_jobs
from tests.operators.conftest import fast_vault_status as fast_vault_status
from tests.operators.conftest import sim_c1 as sim_c1
from tests.operators.conftest import sim_c1_no_retry as sim_c1_no_retry
from tests.operators.conftest import sim_vault as sim_vault
from tests.operators.conftest import sim_vault_no_retry as sim_vault_no_retry
from tests.operators.conftest import slow_jobs as slow_jobs
from tests.operators.conftest import ti as ti
