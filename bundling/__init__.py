"""Pure, broker-free bundle generation: mining, objectives, budget, candidates, pricing, cold
start, hybrid scoring, policy gates, MMR diversity and the orchestrator (``engine``).

Every formula, default and threshold is written down in docs/design.md, sections Mining to
Cold start.

Nothing here touches Kafka, Redis or asyncio; agents wire streams to these functions.
"""
