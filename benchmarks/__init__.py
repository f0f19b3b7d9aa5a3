"""Speed comparisons of the zoo against the tools users would pick instead (timm, captum,
pytorch-grad-cam). Run them all with ``python -m benchmarks [--quick] [--only NAME]``.

Every figure is a median over several runs in which the two sides alternate in one process
(or, for cold start-up, in fresh processes launched alternately), and every comparison is a
ratio of two such medians: the machine is shared and noisy, so absolute times mean little and
nothing here asserts on time.

A benchmark module exposes ``run(quick: bool) -> list[dict]``: each dict is one table row,
its keys the column headers (in order of first appearance). Raising
:class:`benchmarks.common.Skipped` skips the whole module with a reason (e.g. a missing peer).
"""
