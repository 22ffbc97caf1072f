"""Pure, broker-free bundle generation (seed 000): mining, objectives, budget, candidates,
pricing, cold start, hybrid scoring, policy gates, MMR diversity and the orchestrator.

Nothing here touches Kafka, Redis or asyncio; agents wire streams to these functions.
"""
