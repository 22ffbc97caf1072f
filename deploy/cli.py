"""``bundlestream dev up|down|status`` and ``bundlestream topics create``."""

from __future__ import annotations

import argparse
import sys

from core.settings import Settings, get_settings
from deploy.errors import StackError, TopicMismatchError


def _dev_up(args: argparse.Namespace) -> int:
    from deploy import local

    settings = get_settings()
    try:
        status = local.up(settings, brokers=args.brokers)
    except StackError as exc:
        print(f"dev up failed: {exc}", file=sys.stderr)
        return 1
    for line in status.lines():
        print(line)
    if args.brokers > 1:
        env = cluster_env(settings, args.brokers)
        print("# workers and clients of this cluster need:")
        for key, value in env.items():
            print(f"export {key}={value}")
    if args.topics:
        return _topics_create(
            args, cluster_settings(settings, args.brokers) if args.brokers > 1 else None
        )
    return 0


def cluster_env(settings: Settings, brokers: int) -> dict[str, str]:
    """The settings a worker needs to use the local cluster: every node, replicated topics."""
    from deploy.config import cluster_spec

    spec = cluster_spec(settings, brokers)
    return {
        "BUNDLESTREAM_KAFKA_BOOTSTRAP": spec.bootstrap,
        "BUNDLESTREAM_REPLICATION_FACTOR": str(spec.replication_factor),
        "BUNDLESTREAM_MIN_INSYNC_REPLICAS": str(spec.min_insync_replicas),
    }


def cluster_settings(settings: Settings, brokers: int) -> Settings:
    env = cluster_env(settings, brokers)
    return settings.model_copy(
        update={
            "kafka_bootstrap": env["BUNDLESTREAM_KAFKA_BOOTSTRAP"],
            "replication_factor": int(env["BUNDLESTREAM_REPLICATION_FACTOR"]),
            "min_insync_replicas": int(env["BUNDLESTREAM_MIN_INSYNC_REPLICAS"]),
        }
    )


def _dev_down(args: argparse.Namespace) -> int:
    from deploy import local

    local.down(get_settings())
    return 0


def _dev_status(args: argparse.Namespace) -> int:
    from deploy import local

    status = local.status(get_settings())
    for line in status.lines():
        print(line)
    return 0 if status.ok else 1


def _topics_create(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from deploy.topics_admin import ensure_topics, plan_topics

    settings = settings or get_settings()
    try:
        outcome = ensure_topics(settings)
    except TopicMismatchError as exc:
        print(f"topics create failed: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(
            f"topics create failed against {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    for plan in plan_topics(settings):
        policy = plan.config.get("cleanup.policy", "delete")
        print(
            f"{outcome.get(plan.name, '?'):<8} {plan.name:<48} partitions={plan.partitions} "
            f"replicas={plan.replication} {policy}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    dev = sub.add_parser("dev", help="local Kafka (KRaft) + Redis on loopback under the cache dir")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True)
    up = dev_sub.add_parser(
        "up", help="start what is missing and wait until it answers (idempotent)"
    )
    up.add_argument("--topics", action="store_true", help="also create every topic (topics create)")
    up.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3, 5),
        default=1,
        help="Kafka nodes: 1 (default) a single broker; 3 or 5 a replicated KRaft cluster "
        "(combined broker+controller nodes) on consecutive port pairs from the bootstrap port",
    )
    up.set_defaults(handler=_dev_up)
    dev_sub.add_parser(
        "down", help="stop the local Kafka (broker or cluster) and Redis (data stays)"
    ).set_defaults(handler=_dev_down)
    dev_sub.add_parser(
        "status", help="show both with pids and ports; exit 0 only if both are up"
    ).set_defaults(handler=_dev_status)

    topics = sub.add_parser("topics", help="topic administration")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    topics_sub.add_parser(
        "create", help="create every topic with its partitions and config (idempotent)"
    ).set_defaults(handler=_topics_create)
