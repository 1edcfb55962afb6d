"""Support files of the ``harness`` pytest plugin: the workload that runs a test in a trial."""

from pathlib import Path

#: The workloads directory the plugin's trials load their one workload module from.
WORKLOADS_DIR = Path(__file__).parent
#: That module: a family with one workload that imports a test module by path and calls one test.
WORKLOAD_MODULE = "_pytest_workload.py"
