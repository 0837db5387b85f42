"""The scripted fake Gemini API for the agent tests: a re-export of ``ao.selftest.gemini``."""

from __future__ import annotations

from ao.selftest.gemini import JSON_VALUES, MODEL_VERSION, FakeGemini, invalid_key
from ao.selftest.server import Step, text

__all__ = ["JSON_VALUES", "MODEL_VERSION", "FakeGemini", "Step", "invalid_key", "text"]
