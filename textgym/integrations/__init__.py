"""textgym inside other stacks: TRL's GRPOTrainer (:mod:`textgym.integrations.trl`) and
OpenEnv servers and clients (:mod:`textgym.integrations.openenv`).

A layer of its own, between the application and the agents and envs: it may use both,
and only ``textgym.app`` imports it. Each module needs its optional extra
(``textgym[trl]``, ``textgym[openenv]``); this package imports neither.
"""
