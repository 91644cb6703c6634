"""`output`: the FileIds IVR flows reference, read from the state (no network)."""

from __future__ import annotations

from pathlib import Path

from ivrsync.operations.state import read_state
from ivrsync.state.operations import FlowFileIds, flow_file_ids


def outputs(root: Path, approved_only: bool) -> FlowFileIds:
    state = read_state(root)
    return flow_file_ids(state, approved_only) if state else FlowFileIds({}, [])
