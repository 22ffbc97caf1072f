"""Pydantic schemas of every event, output and config document. One source of truth for contracts."""

from .bundles import (
    BadRow,
    Bundle,
    BundlePricing,
    BundleProduct,
    BundleSet,
    BundleType,
    ComboRun,
    DiversitySelection,
    GenerationMetrics,
    Objective,
    ObjectiveScore,
    PolicyGateCounts,
    ScoreComponents,
    TimeBudget,
    VolumeTier,
)
from .catalog import Partner, Product, Sponsorship
from .chat import (
    AddBulkRequest,
    AddBulkResponse,
    Budget,
    BundleAdded,
    CategoryListing,
    ChatTurn,
    CompositeOption,
    CompositeReply,
    DiscoveredProduct,
    Entities,
    SessionState,
)
from .common import SCHEMA_VERSION, InputEvent, OutputRecord, dumps, utcnow
from .config import (
    DEFAULT_EXPERIENCES,
    DEFAULT_PRODUCT_MIX,
    DEFAULT_PROMPTS,
    CompositeDiscoveryConfig,
    ConfigDocument,
    PlatformConfig,
    ProductMixSlice,
    Prompt,
    PromptSet,
)
from .dead_letters import DeadLetter
from .keys import ApiKeyRecord
from .orders import OrderEvent, OrderLine
from .uploads import UploadEvent, UploadFile

__all__ = [n for n in dir() if not n.startswith("_")]
