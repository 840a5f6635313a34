"""The commands around a meeting's media and administration: recordings (list, download with a
progress bar), admin users (list, disable), and the ai service's models and transcripts."""

from __future__ import annotations

import hashlib

from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh_sdk.cli.errors import EXIT_NOT_FOUND, EXIT_PERMISSION, EXIT_UNAUTHENTICATED
from tests.cli.conftest import Cli, Mesh
from tests.support import Client


def _register_recording(mesh: Mesh, meeting: str, data: bytes) -> str:
    """A finished recording as media leaves it: the file in the object store, registered with
    the meeting service by media's service identity."""
    key = f"{meeting}/recordings/{hashlib.sha256(data).hexdigest()[:12]}.webm"

    async def register() -> str:
        platform = mesh.platform
        await platform.runtime.objects.put_bytes(key, data, "video/webm")
        registry = recordings_grpc.RecordingRegistryServiceStub(platform.channel("meeting"))
        reply = await registry.CreateRecording(
            recordings_pb2.CreateRecordingRequest(
                parent=meeting,
                recording=meeting_pb2.Recording(
                    object_key=key, media_type="video/webm", duration_seconds=12.5, size_bytes=len(data)
                ),
            ),
            metadata={"authorization": platform.runtime.identity("media").authorization()},
        )
        return str(reply.recording.name)

    return str(mesh.run(register()))


def test_recordings_list_and_download(mesh: Mesh, cli: Cli, person: Client) -> None:
    name = cli("meetings", "create", "--title", "Recorded", "--recording", "--json").json()["meeting"]["name"]
    data = bytes(range(256)) * 4096  # 1 MiB
    recording = _register_recording(mesh, name, data)

    listed = cli("recordings", "list", name)
    assert listed.exit_code == 0, listed.output
    assert listed.lines[0].split() == ["NAME", "TYPE", "SECONDS", "BYTES", "STARTED", "RENDITIONS"]
    assert listed.lines[1].split()[:4] == [recording, "video/webm", "12.5", str(len(data))]
    assert listed.lines[1].split()[-1] == "-"  # not transcoded yet
    as_json = cli("recordings", "list", name, "--json").json()
    assert [r["name"] for r in as_json["recordings"]] == [recording]

    target = cli.home.parent / "standup.webm"
    fetched = cli("recordings", "download", recording, "-o", str(target))
    assert fetched.exit_code == 0, fetched.output
    assert target.read_bytes() == data
    assert "100%" in fetched.output  # the progress bar, on the terminal's stderr
    assert f"saved {target} ({len(data)} bytes)" in fetched.output

    unknown = cli("recordings", "download", f"{name}/recordings/nope")
    assert unknown.exit_code == EXIT_NOT_FOUND
    assert unknown.lines == [f"meetmesh: no recording {name}/recordings/nope (NOT_FOUND)"]


def _register_renditions(mesh: Mesh, recording: str, files: dict[str, bytes]) -> None:
    """What the transcode worker leaves: MP4s in the object store, registered as renditions
    (participant id -> file; "" is the composite) plus the composite's HLS playlist."""

    async def register() -> None:
        platform = mesh.platform
        folder = recording + "-out"
        renditions = []
        for participant, data in files.items():
            key = f"{folder}/{participant or 'composite'}.mp4"
            await platform.runtime.objects.put_bytes(key, data, "video/mp4")
            renditions.append(
                meeting_pb2.RecordingRendition(
                    kind=meeting_pb2.RecordingRendition.KIND_MP4,
                    participant=f"{recording.split('/recordings/')[0]}/participants/{participant}"
                    if participant
                    else "",
                    object_key=key,
                    media_type="video/mp4",
                    size_bytes=len(data),
                    duration_seconds=12.5,
                )
            )
        playlist = f"{folder}/composite/index.m3u8"
        await platform.runtime.objects.put_bytes(playlist, b"#EXTM3U\n", "application/vnd.apple.mpegurl")
        renditions.append(
            meeting_pb2.RecordingRendition(
                kind=meeting_pb2.RecordingRendition.KIND_HLS,
                object_key=playlist,
                media_type="application/vnd.apple.mpegurl",
                size_bytes=8,
                duration_seconds=12.5,
            )
        )
        registry = recordings_grpc.RecordingRegistryServiceStub(platform.channel("meeting"))
        await registry.SetRecordingRenditions(
            recordings_pb2.SetRecordingRenditionsRequest(name=recording, renditions=renditions),
            metadata={"authorization": platform.runtime.identity("media").authorization()},
        )

    mesh.run(register())


def test_recordings_transcoded_renditions_listed_and_downloaded(mesh: Mesh, cli: Cli, person: Client) -> None:
    created = cli("meetings", "create", "--title", "Transcoded", "--recording", "--json")
    name = created.json()["meeting"]["name"]
    recording = _register_recording(mesh, name, b"webm" * 1000)
    composite, own = b"composite-mp4" * 5000, b"participant-mp4" * 3000
    _register_renditions(mesh, recording, {"": composite, "p2": own})

    listed = cli("recordings", "list", name)
    assert listed.exit_code == 0, listed.output
    assert listed.lines[1].split()[-4:] == ["mp4", "hls", "+1", "participant"]
    renditions = cli("recordings", "list", name, "--json").json()["recordings"][0]["renditions"]
    assert {(r["kind"], r.get("participant", "")) for r in renditions} == {
        ("KIND_MP4", ""),
        ("KIND_MP4", f"{name}/participants/p2"),
        ("KIND_HLS", ""),
    }

    everyone = cli.home.parent / "everyone.mp4"
    fetched = cli("recordings", "download", recording, "--mp4", "-o", str(everyone))
    assert fetched.exit_code == 0, fetched.output
    assert everyone.read_bytes() == composite
    theirs = cli.home.parent / "theirs.mp4"
    fetched = cli("recordings", "download", recording, "--mp4", "--participant", "p2", "-o", str(theirs))
    assert fetched.exit_code == 0, fetched.output
    assert theirs.read_bytes() == own

    missing = cli("recordings", "download", recording, "--mp4", "--participant", "p9")
    assert missing.exit_code == EXIT_NOT_FOUND
    assert len(missing.lines) == 1 and "no MP4 of participant p9" in missing.lines[0]
    misuse = cli("recordings", "download", recording, "--participant", "p2")
    assert misuse.exit_code != 0 and "--participant needs --mp4" in misuse.output


def test_admin_users_list_and_disable(mesh: Mesh, cli: Cli) -> None:
    admin, member = mesh.client("Admin"), mesh.client("Member")
    mesh.promote(admin)
    member_cli = Cli(cli.home.parent / "member-config", mesh.url)
    assert member_cli.login(member.email).exit_code == 0
    refused = member_cli("admin", "users", "list")
    assert refused.exit_code == EXIT_PERMISSION, refused.output
    assert len(refused.lines) == 1 and refused.lines[0].endswith("(PERMISSION_DENIED)")

    assert cli.login(admin.email).exit_code == 0
    listed = cli("admin", "users", "list", "--page-size", "500", "--json").json()
    emails = {u["email"]: u for u in listed["users"]}
    assert emails[admin.email]["role"] == "ROLE_ADMIN"
    assert emails[member.email]["role"] == "ROLE_MEMBER"
    table = cli("admin", "users", "list", "--page-size", "500")
    assert any(member.user.name in line and "member" in line and "active" in line for line in table.lines)

    promoted = cli("admin", "users", "promote", member.user.name)
    assert promoted.lines == [f"{member.user.name} is now admin"]
    member_cli.age_access_token()  # the role comes with the next access token
    assert member_cli("admin", "users", "list").exit_code == 0
    demoted = cli("admin", "users", "demote", member.user.name, "--json").json()
    assert demoted["user"]["role"] == "ROLE_MEMBER"
    assert member_cli("admin", "users", "list").exit_code == EXIT_UNAUTHENTICATED  # sessions ended
    assert member_cli.login(member.email).exit_code == 0
    disabled = cli("admin", "users", "disable", member.user.name)
    assert disabled.lines == [f"disabled {member.user.name}"]
    after = member_cli("meetings", "list")  # the member's sessions are revoked
    assert after.exit_code == EXIT_UNAUTHENTICATED, after.output


def test_models_and_transcripts(ai_mesh: Mesh, ai_cli: Cli) -> None:
    from tests.ai.conftest import AiPlatform
    from tests.ai.speech import FLITE_SENTENCES, flite
    from tests.ai.test_captions import stream_audio, with_pauses

    admin = ai_mesh.client("Admin")
    ai_mesh.promote(admin)
    assert ai_cli.login(admin.email).exit_code == 0

    models = ai_cli("models", "list", "--json").json()
    versions = {v["name"]: v["state"] for m in models["models"] for v in m["versions"]}
    assert versions["models/vad/versions/1"] == "MODEL_VERSION_STATE_READY"
    table = ai_cli("models", "list")
    assert table.lines[0].split() == ["MODEL", "VERSION", "STATE"]
    assert any(line.split() == ["models/vad", "1", "ready"] for line in table.lines)
    stats = ai_cli("models", "stats", "vad")
    assert stats.exit_code == 0, stats.output
    assert stats.lines[0].split()[:3] == ["VERSION", "SUCCESS", "FAILURE"]
    assert stats.lines[1].startswith("models/vad/versions/1")
    unloaded = ai_cli("models", "unload", "emotion", "1", "--json")
    assert unloaded.exit_code == 0, unloaded.output
    states = {v["name"]: v["state"] for v in unloaded.json()["model"]["versions"]}
    assert states["models/emotion/versions/1"] != "MODEL_VERSION_STATE_READY"
    loaded = ai_cli("models", "load", "emotion", "1")
    assert loaded.exit_code == 0, loaded.output
    assert any(line.split() == ["models/emotion/versions/1", "ready"] for line in loaded.lines)
    missing = ai_cli("models", "stats", "no-such-model")
    assert missing.exit_code == EXIT_NOT_FOUND, missing.output

    # a meeting with a transcript: speech streamed in as media streams it to the ai service
    name = ai_cli("meetings", "create", "--title", "Spoken", "--ai", "--json").json()["meeting"]["name"]
    joined = ai_cli("meetings", "join", name, "--json").json()
    platform = ai_mesh.platform
    sentence = FLITE_SENTENCES[0]

    async def speak() -> None:
        from services.kit import channel

        port = platform.hosts["ai"].grpc_port
        as_media = channel(f"127.0.0.1:{port}", platform.runtime.identity("media"))
        ai = AiPlatform(platform.hosts["ai"], platform.runtime, platform.channel("ai"), as_media)
        try:
            await stream_audio(ai, with_pauses([flite(sentence)]), joined["participant"]["name"])
        finally:
            as_media.close()

    ai_mesh.run(speak(), timeout=120)
    vtt = ai_cli("transcripts", "export", name, "--format", "vtt")
    assert vtt.exit_code == 0, vtt.output
    assert vtt.lines[0] == "WEBVTT"
    assert "-->" in vtt.output
    words = [w.strip(".,").lower() for w in sentence.split() if len(w) > 4]
    assert any(w in vtt.output.lower() for w in words), (sentence, vtt.output)
    text = ai_cli("transcripts", "export", name, "-o", str(ai_cli.home.parent / "t.txt"))
    assert text.exit_code == 0, text.output
    exported = (ai_cli.home.parent / "t.txt").read_text().lower()
    assert any(w in exported for w in words), exported
