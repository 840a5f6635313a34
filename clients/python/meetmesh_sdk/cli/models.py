"""``meetmesh models list|load|unload|stats``: the AI model repository (admins only)."""

from __future__ import annotations

import click

from meetmesh.ai.v1 import ai_pb2

from .app import async_command, enum_word, example, group, options, print_json, resource, table
from .session import Session


def _version(model: str, version: str) -> str:
    return f"{resource('models', model)}/versions/{version}"


def _show(model: ai_pb2.Model) -> None:
    table(
        ["version", "state", "reason"],
        [[v.name, enum_word(v, "state"), v.reason] for v in model.versions],
    )


@group()
@example("meetmesh models list", "meetmesh models load emotion 2")
def models() -> None:
    """AI models: list, load, unload, stats (admins only)."""


@models.command("list")
@example("meetmesh models list", "meetmesh models list --json | jq -r '.models[].name'")
@async_command
async def list_models(session: Session) -> None:
    """List the models and the state of each version."""
    reply = await session.call(session.analysis.ListModels, ai_pb2.ListModelsRequest())
    if options().json:
        print_json(reply)
        return
    table(
        ["model", "version", "state"],
        [
            [m.name, v.name.rsplit("/", 1)[-1], enum_word(v, "state")]
            for m in reply.models
            for v in m.versions
        ],
    )


@models.command()
@click.argument("model")
@click.argument("version")
@example("meetmesh models load emotion 2", "meetmesh models load models/emotion 2 --json")
@async_command
async def load(session: Session, model: str, version: str) -> None:
    """Load a version and make it the one that serves (the previous one unloads when idle)."""
    reply = await session.call(
        session.analysis.LoadModelVersion,
        ai_pb2.LoadModelVersionRequest(name=_version(model, version)),
        deadline_s=300,
    )
    if options().json:
        print_json(reply)
    else:
        _show(reply.model)


@models.command()
@click.argument("model")
@click.argument("version")
@example("meetmesh models unload emotion 1")
@async_command
async def unload(session: Session, model: str, version: str) -> None:
    """Unload a version of a model."""
    reply = await session.call(
        session.analysis.UnloadModelVersion, ai_pb2.UnloadModelVersionRequest(name=_version(model, version))
    )
    if options().json:
        print_json(reply)
    else:
        _show(reply.model)


@models.command()
@click.argument("model")
@example("meetmesh models stats emotion", "meetmesh models stats vad --json")
@async_command
async def stats(session: Session, model: str) -> None:
    """Inference statistics of a model's loaded versions."""
    reply = await session.call(
        session.analysis.GetModelStatistics, ai_pb2.GetModelStatisticsRequest(name=resource("models", model))
    )
    if options().json:
        print_json(reply)
        return
    table(
        ["version", "success", "failure", "executions", "inferences", "queue ms", "compute ms"],
        [
            [
                s.name,
                s.success_count,
                s.failure_count,
                s.execution_count,
                s.inference_count,
                f"{s.mean_queue_time.ToTimedelta().total_seconds() * 1000:.2f}",
                f"{s.mean_compute_time.ToTimedelta().total_seconds() * 1000:.2f}",
            ]
            for s in reply.versions
        ],
    )
