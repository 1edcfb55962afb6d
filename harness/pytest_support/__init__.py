"""The parts of the ``harness`` pytest plugin (:mod:`harness.pytest_plugin` holds its hooks).

- :mod:`.markers`: options, markers and which tests are measured (shared by both processes);
- :mod:`.child`: the plugin of the child pytest session that measures one test;
- :mod:`.launch`: starting that child for each replicate and reading back what it measured;
- :mod:`.limits`: the limits of a test and the report of a figure over its limit;
- :mod:`.baseline`: pytest baselines, stored and compared;
- :mod:`.summary`: the table of measured tests at the end of the session.
"""
