// The room as the client sees it, rebuilt from signaling events by a pure reducer (unit-tested).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  LobbyUpdate_Change,
  ParticipantUpdate_Change,
  TrackKind,
  TrackSource,
  TrackUpdate_Change,
  type Participant,
  type SignalResponse,
  type Track,
} from "@gen/meetmesh/signaling/v1/signaling_pb";

export type Status = "connecting" | "live" | "reconnecting" | "left";

export interface ChatLine {
  from: string;
  text: string;
  time: number;
  private: boolean;
}

export interface CaptionLine {
  participant: string;
  text: string;
  final: boolean;
  utterance: bigint;
}

export interface SyntheticAlert {
  participant: string;
  score: number;
  utterance: bigint;
}

export interface Waiting {
  participant: string;
  name: string;
}

export interface ReactionShown {
  key: number;
  from: string;
  emoji: string;
  at: number;
}

/** How long a reaction stays on screen. */
export const REACTION_MS = 6000;

export interface RoomState {
  status: Status;
  me: string;
  participants: Record<string, Participant>;
  tracks: Record<string, Track>;
  speakers: string[];
  chat: ChatLine[];
  captions: CaptionLine[];
  recording: boolean;
  lastRecording: string;
  /** The time-limited download URL signaling sent when the last recording stopped. */
  lastRecordingUri: string;
  leftReason: string;
  error: string;
  /** The platform's words for the last error (English, for diagnostics; the UI shows `error`'s key). */
  errorMessage: string;
  resumeToken: string;
  resumed: number;
  /** Who last asked the caller to unmute (empty: nobody, or answered). */
  unmuteRequest: string;
  /** Display names by participant id, from the meeting service (signaling leaves them empty). */
  names: Record<string, string>;
  /** Synthetic-voice alerts not yet dismissed (hosts and co-hosts receive them), newest last. */
  alerts: SyntheticAlert[];
  /** The latest emotion per participant (only when the meeting shows live emotions). */
  emotions: Record<string, string>;
  /** Who waits in the lobby (moderators only: `ListParticipants` at join, then `lobbyUpdate`). */
  waiting: Waiting[];
  /** Reactions on screen now, oldest first. */
  reactions: ReactionShown[];
}

export const initialRoom = (): RoomState => ({
  status: "connecting",
  me: "",
  participants: {},
  tracks: {},
  speakers: [],
  chat: [],
  captions: [],
  recording: false,
  lastRecording: "",
  lastRecordingUri: "",
  leftReason: "",
  error: "",
  errorMessage: "",
  resumeToken: "",
  resumed: 0,
  names: {},
  unmuteRequest: "",
  alerts: [],
  emotions: {},
  waiting: [],
  reactions: [],
});

const MAX_CHAT = 500;
const MAX_CAPTIONS = 50;
const MAX_REACTIONS = 8;

/** The next state after one signaling message. */
export function reduce(state: RoomState, response: SignalResponse): RoomState {
  const m = response.message;
  switch (m.case) {
    case "joined": {
      const j = m.value;
      const participants: Record<string, Participant> = {};
      for (const p of [...j.participants, ...(j.participant ? [j.participant] : [])]) participants[p.id] = p;
      const tracks: Record<string, Track> = {};
      for (const t of j.tracks) tracks[t.id] = t;
      return {
        ...state,
        status: "live",
        me: j.participant?.id ?? state.me,
        participants,
        tracks,
        resumeToken: j.resumeToken,
        recording: j.recording,
        resumed: j.resumed ? state.resumed + 1 : state.resumed,
        error: "",
      };
    }
    case "participantUpdate": {
      const p = m.value.participant;
      if (!p) return state;
      const participants = { ...state.participants };
      if (m.value.change === ParticipantUpdate_Change.LEFT) {
        delete participants[p.id];
        const tracks = Object.fromEntries(Object.entries(state.tracks).filter(([, t]) => t.participant !== p.id));
        return { ...state, participants, tracks, speakers: state.speakers.filter((s) => s !== p.id) };
      }
      participants[p.id] = p;
      return { ...state, participants };
    }
    case "trackUpdate": {
      const t = m.value.track;
      if (!t) return state;
      const tracks = { ...state.tracks };
      if (m.value.change === TrackUpdate_Change.UNPUBLISHED) delete tracks[t.id];
      else tracks[t.id] = t;
      return { ...state, tracks };
    }
    case "tracksPublished": {
      const tracks = { ...state.tracks };
      for (const t of Object.values(m.value.tracksByMid)) tracks[t.id] = t;
      return { ...state, tracks };
    }
    case "activeSpeakers":
      return { ...state, speakers: m.value.speakers.filter((s) => s.level > 0).map((s) => s.participant) };
    case "chat": {
      const c = m.value;
      const line: ChatLine = {
        from: c.from,
        text: c.text,
        time: c.sendTime ? timestampDate(c.sendTime).getTime() : Date.now(),
        private: c.private,
      };
      return { ...state, chat: [...state.chat, line].slice(-MAX_CHAT) };
    }
    case "caption": {
      const c = m.value;
      const line: CaptionLine = { participant: c.participant, text: c.text, final: c.isFinal, utterance: c.utteranceId };
      // An interim caption replaces the earlier interim of the same utterance.
      const rest = state.captions.filter(
        (x) => !(x.participant === c.participant && x.utterance === c.utteranceId && !x.final),
      );
      return { ...state, captions: [...rest, line].slice(-MAX_CAPTIONS) };
    }
    case "syntheticVoiceAlert": {
      const a = m.value;
      // One banner per speaker: a later utterance updates it.
      const rest = state.alerts.filter((x) => x.participant !== a.participant);
      return { ...state, alerts: [...rest, { participant: a.participant, score: a.score, utterance: a.utteranceId }] };
    }
    case "emotionUpdate":
      return { ...state, emotions: { ...state.emotions, [m.value.participant]: m.value.emotion } };
    case "lobbyUpdate": {
      const u = m.value;
      const rest = state.waiting.filter((w) => w.participant !== u.participant);
      if (u.change !== LobbyUpdate_Change.WAITING) return rest.length === state.waiting.length ? state : { ...state, waiting: rest };
      return { ...state, waiting: [...rest, { participant: u.participant, name: u.displayName }] };
    }
    case "reaction": {
      const r = m.value;
      const now = Date.now();
      const shown = state.reactions.filter((x) => now - x.at < REACTION_MS).slice(-(MAX_REACTIONS - 1));
      const key = (state.reactions.at(-1)?.key ?? 0) + 1;
      return { ...state, reactions: [...shown, { key, from: r.from, emoji: r.emoji, at: now }] };
    }
    case "unmuteRequested":
      // Signaling's RequestUnmute from a moderator: the person decides.
      return { ...state, unmuteRequest: m.value.from };
    case "handUpdate": {
      const p = state.participants[m.value.participant];
      if (!p) return state;
      return { ...state, participants: { ...state.participants, [p.id]: { ...p, handRaised: m.value.raised } } };
    }
    case "recordingUpdate":
      return {
        ...state,
        recording: m.value.recording,
        lastRecording: m.value.recordingName || state.lastRecording,
        lastRecordingUri: m.value.downloadUri || state.lastRecordingUri,
      };
    case "left":
      return { ...state, status: "left", leftReason: m.value.reason };
    case "error":
      return m.value.fatal
        ? { ...state, status: "left", leftReason: m.value.reason.toLowerCase(), error: m.value.message }
        : { ...state, error: m.value.reason, errorMessage: m.value.message };
    default:
      return state;
  }
}

export interface Tile {
  key: string;
  participant: string;
  video?: Track;
  audio?: Track;
  screen: boolean;
}

/** One tile per participant (camera) plus one per shared screen; the caller first. */
export function tiles(state: RoomState): Tile[] {
  const out: Tile[] = [];
  const ids = Object.keys(state.participants).sort((a, b) => (a === state.me ? -1 : b === state.me ? 1 : 0));
  for (const id of ids) {
    const mine = Object.values(state.tracks).filter((t) => t.participant === id);
    out.push({
      key: id,
      participant: id,
      video: mine.find((t) => t.kind === TrackKind.VIDEO && t.source !== TrackSource.SCREEN),
      audio: mine.find((t) => t.kind === TrackKind.AUDIO),
      screen: false,
    });
    for (const s of mine.filter((t) => t.source === TrackSource.SCREEN)) {
      out.push({ key: s.id, participant: id, video: s, screen: true });
    }
  }
  return out;
}

/** Columns and rows for `n` tiles in a `width` x `height` area, keeping tiles near 16:9. */
export function gridShape(n: number, width: number, height: number): { cols: number; rows: number } {
  if (n <= 1) return { cols: 1, rows: 1 };
  let best = { cols: 1, rows: n, size: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const tileW = Math.min(width / cols, ((height / rows) * 16) / 9);
    if (tileW >= best.size) best = { cols, rows, size: tileW };
  }
  return { cols: best.cols, rows: best.rows };
}

/** Who to show large in speaker view: a shared screen, else the loudest other speaker. */
export function spotlight(state: RoomState, all: Tile[]): Tile | undefined {
  const screen = all.find((t) => t.screen);
  if (screen) return screen;
  const speaker = state.speakers.find((s) => s !== state.me) ?? state.speakers[0];
  return all.find((t) => !t.screen && t.participant === speaker) ?? all.find((t) => t.participant !== state.me) ?? all[0];
}

export function displayName(state: RoomState, id: string): string {
  return state.participants[id]?.displayName || state.names[id] || id.slice(0, 8);
}

export function hasGrant(state: RoomState, grant: string): boolean {
  return state.participants[state.me]?.grants.includes(grant) ?? false;
}
