"""The application layer: what a person runs, built on the agents and the envs.

* :mod:`~textgym.app.cli` and its ``cli_*`` modules: the ``textgym`` command.
* :mod:`~textgym.app.demo`: ``make demo``, tool discovery from reward.
* :mod:`~textgym.app.specs`: agent specs (``random``, ``oracle``, ``ppo:PATH``, ...), the
  strings the CLI and the leaderboard accept.
* :mod:`~textgym.app.leaderboard_runner`: evaluating agent specs onto a leaderboard.

Imports run one way: ``textgym.app`` -> ``textgym.agents`` and ``textgym.envs`` -> the core
(``textgym``). Nothing below this package imports it (tests/test_layout.py).
"""
