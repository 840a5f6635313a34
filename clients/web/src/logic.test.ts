import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { Meeting_State } from "@gen/meetmesh/meeting/v1/meeting_pb";
import {
  LobbyUpdate_Change,
  ParticipantUpdate_Change,
  SignalResponseSchema,
  TrackKind,
  TrackSource,
  TrackUpdate_Change,
  type SignalResponse,
} from "@gen/meetmesh/signaling/v1/signaling_pb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { needsToken, Session } from "./api";
import { decodeErrorInfoReason, errorKey, errorReason, leftKey } from "./errors";
import { dictionaries, en, initialLang, translate, zh } from "./i18n";
import { isPast, meetingFromForm } from "./Meetings";
import { clock, emotionInterval, emotionRows, intervalText, joinTimeline, recordingUri, rememberRecording, scaleBars, speakingTime } from "./insights";
import { REACTION_MS, gridShape, initialRoom, reduce, spotlight, tiles } from "./roomState";
import { match } from "./router";
import { backoff } from "./rtc";
import { checkAvatarFile, checkCapacity, checkEmail, checkMeeting, checkPasscode, checkPassword, checkUrl } from "./validation";

const ev = (message: SignalResponse["message"]): SignalResponse => create(SignalResponseSchema, { message } as never);
const participant = (id: string, name: string, grants: string[] = []) => ({ id, displayName: name, role: "participant", grants, user: `users/${id}` });
const track = (id: string, p: string, kind: TrackKind, source = TrackSource.CAMERA) => ({ id, participant: p, kind, source, name: "", muted: false });

function joined() {
  return reduce(
    initialRoom(),
    ev({
      case: "joined",
      value: {
        meeting: "m1",
        participant: participant("me", "Ada", ["publish", "moderate"]),
        participants: [participant("bob", "Bob")],
        tracks: [track("t1", "bob", TrackKind.VIDEO), track("t2", "bob", TrackKind.AUDIO)],
        resumeToken: "r1",
        resumed: false,
      },
    } as never),
  );
}

describe("room state", () => {
  it("joins with participants, tracks and a resume token", () => {
    const s = joined();
    expect(s.status).toBe("live");
    expect(s.me).toBe("me");
    expect(Object.keys(s.participants).sort()).toEqual(["bob", "me"]);
    expect(s.resumeToken).toBe("r1");
    expect(tiles(s).map((t) => t.participant)).toEqual(["me", "bob"]);
    expect(tiles(s)[1].video?.id).toBe("t1");
  });

  it("removes a participant's tracks when they leave", () => {
    let s = joined();
    s = reduce(s, ev({ case: "participantUpdate", value: { change: ParticipantUpdate_Change.LEFT, participant: participant("bob", "Bob") } } as never));
    expect(s.participants.bob).toBeUndefined();
    expect(Object.keys(s.tracks)).toEqual([]);
  });

  it("tracks publish, mute and unpublish, and a screen gets its own tile", () => {
    let s = joined();
    s = reduce(s, ev({ case: "trackUpdate", value: { change: TrackUpdate_Change.PUBLISHED, track: track("s1", "bob", TrackKind.VIDEO, TrackSource.SCREEN) } } as never));
    expect(tiles(s).filter((t) => t.screen)).toHaveLength(1);
    expect(spotlight(s, tiles(s))?.key).toBe("s1");
    s = reduce(s, ev({ case: "trackUpdate", value: { change: TrackUpdate_Change.MUTED, track: { ...track("t1", "bob", TrackKind.VIDEO), muted: true } } } as never));
    expect(s.tracks.t1.muted).toBe(true);
    s = reduce(s, ev({ case: "trackUpdate", value: { change: TrackUpdate_Change.UNPUBLISHED, track: track("s1", "bob", TrackKind.VIDEO) } } as never));
    expect(s.tracks.s1).toBeUndefined();
  });

  it("replaces interim captions of an utterance with the final one", () => {
    let s = joined();
    s = reduce(s, ev({ case: "caption", value: { participant: "bob", text: "hel", isFinal: false, utteranceId: 1n } } as never));
    s = reduce(s, ev({ case: "caption", value: { participant: "bob", text: "hello", isFinal: false, utteranceId: 1n } } as never));
    expect(s.captions).toHaveLength(1);
    s = reduce(s, ev({ case: "caption", value: { participant: "bob", text: "hello there", isFinal: true, utteranceId: 1n } } as never));
    expect(s.captions.map((c) => [c.text, c.final])).toEqual([["hello there", true]]);
  });

  it("keeps one synthetic-voice alert per speaker and the latest emotion per participant", () => {
    let s = joined();
    s = reduce(s, ev({ case: "syntheticVoiceAlert", value: { participant: "bob", utteranceId: 1n, score: 0.91 } } as never));
    s = reduce(s, ev({ case: "syntheticVoiceAlert", value: { participant: "bob", utteranceId: 2n, score: 0.97 } } as never));
    expect(s.alerts).toEqual([{ participant: "bob", score: 0.97, utterance: 2n }]);
    s = reduce(s, ev({ case: "emotionUpdate", value: { participant: "bob", emotion: "sad", score: 0.6, faces: 1 } } as never));
    s = reduce(s, ev({ case: "emotionUpdate", value: { participant: "bob", emotion: "happy", score: 0.8, faces: 1 } } as never));
    expect(s.emotions).toEqual({ bob: "happy" });
  });

  it("keeps the lobby from signaling's lobby events", () => {
    let s = joined();
    s = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.WAITING, participant: "w1", displayName: "Wu" } } as never));
    s = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.WAITING, participant: "w2", displayName: "Xi" } } as never));
    s = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.WAITING, participant: "w1", displayName: "Wu" } } as never));
    expect(s.waiting).toEqual([{ participant: "w2", name: "Xi" }, { participant: "w1", name: "Wu" }]);
    s = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.ADMITTED, participant: "w2", displayName: "" } } as never));
    s = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.LEFT, participant: "someone-else", displayName: "" } } as never));
    expect(s.waiting).toEqual([{ participant: "w1", name: "Wu" }]);
    const same = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.DENIED, participant: "nobody", displayName: "" } } as never));
    expect(same).toBe(s);
    s = reduce(s, ev({ case: "lobbyUpdate", value: { change: LobbyUpdate_Change.DENIED, participant: "w1", displayName: "" } } as never));
    expect(s.waiting).toEqual([]);
  });

  it("shows reactions for a while, a few at a time", () => {
    let s = joined();
    for (let i = 0; i < 10; i++) s = reduce(s, ev({ case: "reaction", value: { from: "bob", emoji: i % 2 ? "👍" : "🎉" } } as never));
    expect(s.reactions.length).toBe(8);
    expect(s.reactions.map((r) => r.key)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(s.reactions.at(-1)).toMatchObject({ from: "bob", emoji: "👍" });
    const old = { ...s, reactions: s.reactions.map((r) => ({ ...r, at: r.at - REACTION_MS - 1 })) };
    s = reduce(old, ev({ case: "reaction", value: { from: "me", emoji: "❤️" } } as never));
    expect(s.reactions.map((r) => [r.key, r.emoji])).toEqual([[11, "❤️"]]);
  });

  it("keeps chat, speakers, recording and the reason for leaving", () => {
    let s = joined();
    s = reduce(s, ev({ case: "chat", value: { from: "bob", text: "hi", sendTime: timestampFromDate(new Date(5000)) } } as never));
    expect(s.chat).toEqual([{ from: "bob", text: "hi", time: 5000, private: false }]);
    s = reduce(s, ev({ case: "activeSpeakers", value: { speakers: [{ participant: "bob", level: 0.5 }, { participant: "me", level: 0 }] } } as never));
    expect(s.speakers).toEqual(["bob"]);
    s = reduce(s, ev({ case: "recordingUpdate", value: { recording: true } } as never));
    expect(s.recording).toBe(true);
    s = reduce(s, ev({ case: "data", value: { from: "bob", topic: "other", payload: new Uint8Array() } } as never));
    expect(s.unmuteRequest).toBe("");
    s = reduce(s, ev({ case: "unmuteRequested", value: { from: "bob", source: 2 } } as never));
    expect(s.unmuteRequest).toBe("bob");
    s = reduce(s, ev({ case: "handUpdate", value: { participant: "bob", raised: true, by: "" } } as never));
    expect(s.participants.bob?.handRaised).toBe(true);
    s = reduce(s, ev({ case: "handUpdate", value: { participant: "nobody", raised: true, by: "" } } as never));
    expect(s.participants.nobody).toBeUndefined();
    s = reduce(s, ev({ case: "left", value: { reason: "removed" } } as never));
    expect([s.status, s.leftReason]).toEqual(["left", "removed"]);
    expect(leftKey("removed")).toBe("left.removed");
  });
});

describe("emotion chart", () => {
  beforeEach(() => {
    vi.stubEnv("TZ", "UTC"); // labels are local times: these tests pick the zone
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("stacks faces per emotion in each interval, scaled to the busiest one", () => {
    const start = timestampFromDate(new Date("2026-03-02T09:00:00Z"));
    const rows = emotionRows(
      [
        { startTime: start, counts: [{ emotion: 7, count: 2 }, { emotion: 4, count: 6 }] },
        { startTime: timestampFromDate(new Date("2026-03-02T09:01:00Z")), counts: [{ emotion: 5, count: 4 }] },
      ],
      200,
    );
    expect(rows.map((r) => [r.label, r.total])).toEqual([["09:00", 8], ["09:01", 4]]);
    expect(rows[0].segments.map((x) => [x.emotion, x.x, x.w])).toEqual([["happy", 0, 150], ["neutral", 150, 50]]);
    expect(rows[1].segments).toEqual([{ emotion: "sad", count: 4, x: 0, w: 100 }]);
  });

  it("picks the narrowest interval that keeps the chart short, labelled to the second below a minute", () => {
    expect(emotionInterval(0)).toBe(10);
    expect(emotionInterval(240)).toBe(10);
    expect(emotionInterval(241)).toBe(30);
    expect(emotionInterval(30 * 60)).toBe(300);
    expect(emotionInterval(10 * 3600)).toBe(3600);
    expect(emotionInterval(100 * 3600)).toBe(3600);
    expect([intervalText(10), intervalText(300), intervalText(3600)]).toEqual(["10 s", "5 min", "1 h"]);
    const rows = emotionRows([{ startTime: timestampFromDate(new Date("2026-03-02T09:00:20Z")), counts: [{ emotion: 4, count: 1 }] }], 100, 10);
    expect(rows[0].label).toBe("09:00:20");
  });

  it("labels rows with the viewer's local time, not UTC", () => {
    vi.stubEnv("TZ", "Asia/Shanghai"); // UTC+8, no daylight saving
    const rows = emotionRows([{ startTime: timestampFromDate(new Date("2026-03-02T09:00:20Z")), counts: [{ emotion: 4, count: 1 }] }], 100, 10);
    expect(rows[0].label).toBe("17:00:20");
    expect(clock(new Date("2026-03-02T23:59:00Z"), false)).toBe("07:59");
  });
});

describe("layout", () => {
  it("picks a grid that keeps tiles large", () => {
    expect(gridShape(1, 1280, 720)).toEqual({ cols: 1, rows: 1 });
    expect(gridShape(2, 1280, 720)).toEqual({ cols: 2, rows: 1 });
    expect(gridShape(4, 1280, 720)).toEqual({ cols: 2, rows: 2 });
    expect(gridShape(9, 1280, 720)).toEqual({ cols: 3, rows: 3 });
    expect(gridShape(3, 390, 700)).toEqual({ cols: 1, rows: 3 }); // a phone: one column
  });
});

describe("i18n", () => {
  it("has every key in both languages, and fills placeholders", () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const lang of ["en", "zh"] as const) for (const v of Object.values(dictionaries[lang])) expect(v.trim()).not.toBe("");
    expect(translate("zh", "lobby.knock", { name: "Bob" })).toBe("Bob 正在等候室等待");
    expect(translate("en", "val.tooLong", { max: 5 })).toContain("5");
    expect(initialLang(null, "zh-CN")).toBe("zh");
    expect(initialLang("en", "zh-CN")).toBe("en");
  });
});

describe("errors", () => {
  it("reads the ErrorInfo reason from gRPC status details", () => {
    // google.rpc.ErrorInfo{reason: "WRONG_PASSCODE", domain: "meetmesh.io"}
    const bytes = new Uint8Array([10, 14, ...new TextEncoder().encode("WRONG_PASSCODE"), 18, 11, ...new TextEncoder().encode("meetmesh.io")]);
    expect(decodeErrorInfoReason(bytes)).toBe("WRONG_PASSCODE");
    const err = new ConnectError("wrong passcode", Code.PermissionDenied, undefined, [{ type: "google.rpc.ErrorInfo", value: bytes } as never]);
    expect(errorReason(err)).toBe("WRONG_PASSCODE");
    expect(errorKey(err)).toBe("err.wrongPasscode");
    expect(errorKey(new ConnectError("x", Code.Unavailable))).toBe("err.unreachable");
    expect(errorKey(new TypeError("Failed to fetch"))).toBe("err.unreachable");
    expect(errorKey(new Error("boom"))).toBe("err.unknown");
  });
});

describe("validation follows the protos", () => {
  it("checks accounts and meetings", () => {
    expect(checkEmail("a@b.co")).toBeUndefined();
    expect(checkEmail("nope")?.key).toBe("val.email");
    expect(checkPassword("short")?.key).toBe("val.password");
    expect(checkPassword("long enough!")).toBeUndefined();
    expect(checkPasscode("")).toBeUndefined();
    expect(checkPasscode("123")?.key).toBe("val.passcode");
    expect(checkCapacity("1001")?.key).toBe("val.capacity");
    expect(checkCapacity("1.5")?.key).toBe("val.capacity");
    expect(checkUrl("javascript:alert(1)")?.key).toBe("val.url");
    expect(checkUrl("http://example.com/a.png")?.key).toBe("val.url");
    expect(checkUrl("https://user:pw@example.com/a.png")?.key).toBe("val.url");
    expect(checkUrl("https://example.com/a.png")).toBeUndefined();
    expect(checkAvatarFile("image/png", 1000)).toBeUndefined();
    expect(checkAvatarFile("image/gif", 1000)?.key).toBe("profile.badImage");
    expect(checkAvatarFile("image/webp", 5 * 1024 * 1024 + 1)?.key).toBe("profile.badImage");
    // The edge's user-bound object URLs need the token; S3's presigned URLs must not get it.
    expect(needsToken("http://127.0.0.1:8800/objects/avatars/u/a.png?e=1&u=abc&s=x", "http://127.0.0.1:8800")).toBe(true);
    expect(needsToken("/objects/avatars/u/a.png?e=1&s=x", "http://127.0.0.1:8800")).toBe(false);
    expect(needsToken("http://s3.example/bucket/a.png?X-Amz-Signature=1&u=abc", "http://127.0.0.1:8800")).toBe(false);
    const problems = checkMeeting({ title: " ", description: "", start: "2030-01-01T10:00", end: "2030-01-01T09:00", passcode: "", capacity: "10" });
    expect(Object.keys(problems).sort()).toEqual(["end", "title"]);
  });

  it("builds the proto meeting and its update mask", () => {
    const { meeting, mask } = meetingFromForm({
      title: " Standup ", description: "", start: "", end: "", passcode: "1234", capacity: "5", lobby: true, ai: true, liveEmotions: true, recording: false,
    });
    expect(meeting.settings?.liveEmotions).toBe(true);
    const off = meetingFromForm({
      title: "x", description: "", start: "", end: "", passcode: "", capacity: "0", lobby: false, ai: false, liveEmotions: true, recording: true,
    });
    expect(off.meeting.settings?.liveEmotions).toBe(false); // live emotions need AI
    expect(meeting.title).toBe("Standup");
    expect(meeting.settings?.aiEnabled).toBe(true);
    expect(meeting.lobbyEnabled).toBe(true);
    expect(mask.paths).toContain("passcode");
    expect(isPast({ state: Meeting_State.ENDED, endTime: undefined })).toBe(true);
    expect(isPast({ state: Meeting_State.SCHEDULED, endTime: timestampFromDate(new Date(Date.now() + 60_000)) })).toBe(false);
  });
});

describe("router", () => {
  it("matches screens and keeps only local next links", () => {
    expect(match("/m/abc-123")).toEqual({ name: "join", id: "abc-123" });
    expect(match("/m/abc/summary")).toEqual({ name: "summary", id: "abc" });
    expect(match("/signin", "?next=%2Fm%2Fabc")).toEqual({ name: "signin", next: "/m/abc" });
    expect(match("/signin", "?next=https://evil.example")).toEqual({ name: "signin", next: "" });
    expect(match("/signin", "?next=//evil.example")).toEqual({ name: "signin", next: "" });
    expect(match("/nope").name).toBe("notFound");
  });
});

describe("session", () => {
  it("schedules the silent refresh before expiry and signs out cleanly", () => {
    const store = new Map<string, string>();
    const s = new Session({ getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v), removeItem: (k) => void store.delete(k) });
    const now = 1_000_000;
    s.setTokens({ accessToken: "a", refreshToken: "r", accessTokenExpireTime: timestampFromDate(new Date(now + 15 * 60_000)) } as never, now);
    expect(s.signedIn).toBe(true);
    expect(s.refreshDelay(now)).toBe(14 * 60_000);
    s.setTokens({ accessToken: "a", refreshToken: "r2", accessTokenExpireTime: timestampFromDate(new Date(now + 60_000)) } as never, now);
    expect(s.refreshDelay(now)).toBe(30_000);
    expect(s.refreshToken).toBe("r2");
    s.clear();
    expect(s.signedIn).toBe(false);
    expect(store.size).toBe(0);
  });
});

describe("insights and reconnects", () => {
  it("sums speaking time and scales bars", () => {
    const d = (s: number) => ({ seconds: BigInt(s), nanos: 0 }) as never;
    const m = speakingTime([
      { speaker: "a", startOffset: d(0), endOffset: d(3) },
      { speaker: "b", startOffset: d(3), endOffset: d(4) },
      { speaker: "a", startOffset: d(5), endOffset: d(7) },
    ]);
    expect(m.get("a")).toBe(5);
    expect(scaleBars([{ label: "a", value: 5 }, { label: "b", value: 1 }], 100).map((b) => b.w)).toEqual([100, 20]);
    const tl = joinTimeline([
      { displayName: "A", admitTime: timestampFromDate(new Date(0)) },
      { displayName: "B", admitTime: timestampFromDate(new Date(120_000)) },
    ]);
    expect(tl.map((p) => p.minute)).toEqual([0, 2]);
    expect([0, 1, 2, 3, 10].map(backoff)).toEqual([250, 500, 1000, 2000, 2000]);
  });
});

describe("recording links", () => {
  it("prefers the listed URL, else the one signaling sent in this tab", () => {
    const store = new Map<string, string>();
    const storage = { setItem: (k: string, v: string) => void store.set(k, v), getItem: (k: string) => store.get(k) ?? null };
    expect(recordingUri({ name: "meetings/m/recordings/r", downloadUri: "" }, storage)).toBe("");
    rememberRecording("meetings/m/recordings/r", "http://s3/r.webm?sig", storage);
    expect(recordingUri({ name: "meetings/m/recordings/r", downloadUri: "" }, storage)).toBe("http://s3/r.webm?sig");
    expect(recordingUri({ name: "meetings/m/recordings/r", downloadUri: "http://listed" }, storage)).toBe("http://listed");
    let s = joined();
    s = reduce(s, ev({ case: "recordingUpdate", value: { recording: false, recordingName: "meetings/m/recordings/r", downloadUri: "http://s3/r" } } as never));
    expect([s.recording, s.lastRecording, s.lastRecordingUri]).toEqual([false, "meetings/m/recordings/r", "http://s3/r"]);
  });
});

void toBinary;
