// A browser's meeting session: signaling over the edge's /rtc WebSocket (SignalRequest and
// SignalResponse as binary protobuf frames) and one RTCPeerConnection, always the offerer.
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  SignalRequestSchema,
  SignalResponseSchema,
  TrackKind,
  TrackSource,
  TrackUpdate_Change,
  type SignalResponse,
  type Track,
} from "@gen/meetmesh/signaling/v1/signaling_pb";
import { REACTION_MS, initialRoom, reduce, type RoomState, type Waiting } from "./roomState";

type Message = NonNullable<MessageInitShape<typeof SignalRequestSchema>["message"]>;

export interface LocalTrack {
  track: MediaStreamTrack;
  source: TrackSource;
  trackId: string;
  muted: boolean;
  transceiver?: RTCRtpTransceiver;
}

export interface RoomOptions {
  url: string;
  token: string;
  /** A fresh join token (JoinMeeting again) when the first one is refused on resume. */
  renewToken: () => Promise<string>;
  pingIntervalMs?: number;
}

/** Reconnect delays: 0.25 s doubling up to 2 s. */
export function backoff(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 2000);
}

export class RoomConnection {
  state: RoomState = initialRoom();
  remote = new Map<string, MediaStreamTrack>();
  local: LocalTrack[] = [];
  private ws: WebSocket | undefined;
  pc: RTCPeerConnection | undefined;
  private nextId = 1;
  private waiters = new Map<number, (r: SignalResponse) => void>();
  private mids = new Map<string, string>(); // mid -> remote track id
  private subscribed = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  private listeners = new Set<() => void>();
  private closing = false;
  private pinger: ReturnType<typeof setInterval> | undefined;
  private lastPong = 0;
  private token: string;

  constructor(private options: RoomOptions) {
    this.token = options.token;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  private apply(response: SignalResponse): void {
    this.state = reduce(this.state, response);
    this.emit();
  }

  /** Open the session (or resume it with `resumeToken`) and negotiate media. */
  async connect(resumeToken = ""): Promise<void> {
    const ws = new WebSocket(this.options.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new TypeError("signaling unreachable"));
    });
    ws.onmessage = (ev) => this.dispatch(fromBinary(SignalResponseSchema, new Uint8Array(ev.data as ArrayBuffer)));
    ws.onclose = () => this.dropped(ws);
    const reply = await this.request({ case: "join", value: { token: this.token, resumeToken } }, 15_000);
    if (reply.message.case !== "joined") {
      const reason = reply.message.case === "error" ? reply.message.value.reason : "JOIN_FAILED";
      ws.onclose = null;
      ws.close();
      throw new Error(reason);
    }
    this.pc?.close();
    this.pc = this.newPeerConnection(reply.message.value.iceServers);
    this.mids.clear();
    this.subscribed.clear();
    this.remote.clear();
    for (const l of this.local) {
      l.trackId = "";
      l.transceiver = undefined;
    }
    this.startPings();
    await this.queue(() => this.negotiate(this.local, true));
  }

  private newPeerConnection(iceServers: { urls: string[]; username: string; credential: string }[]): RTCPeerConnection {
    const pc = new RTCPeerConnection({
      iceServers: iceServers.map((s) => ({ urls: s.urls, username: s.username || undefined, credential: s.credential || undefined })),
    });
    pc.ontrack = (ev) => {
      const id = this.mids.get(ev.transceiver.mid ?? "");
      if (!id) return;
      this.remote.set(id, ev.track);
      this.emit();
    };
    // No trickling: offers go out with every candidate gathered (see `negotiate`). Signaling
    // takes trickled candidates (also before the first offer), but a trickling build of this
    // client did worse in `python -m bench web` (one join waited 30 s for a remote frame in vain;
    // another took 1.0 s against a 0.35 s median when gathering), and gathering host candidates
    // completes in milliseconds.
    return pc;
  }

  private subscribable(): Track[] {
    return Object.values(this.state.tracks).filter((t) => t.participant !== this.state.me && !this.subscribed.has(t.id));
  }

  private dispatch(response: SignalResponse): void {
    const m = response.message;
    const waiter = this.waiters.get(response.requestId);
    if (waiter && (m.case === "joined" || m.case === "answer" || m.case === "error" || m.case === "pong")) {
      this.waiters.delete(response.requestId);
      waiter(response);
    }
    if (m.case === "pong") {
      this.lastPong = Date.now();
      return;
    }
    if (m.case === "tracksPublished") {
      for (const [mid, t] of Object.entries(m.value.tracksByMid)) {
        const l = this.local.find((x) => x.transceiver?.mid === mid);
        if (!l) continue;
        l.trackId = t.id;
        if (l.muted) this.send({ case: "mute", value: { trackId: t.id, muted: true } });
      }
    }
    if (m.case === "trickle") {
      const c = m.value;
      void this.pc?.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMlineIndex }).catch(() => undefined);
      return;
    }
    if (m.case === "answer") return;
    this.apply(response);
    if (m.case === "trackUpdate" && m.value.change === TrackUpdate_Change.UNPUBLISHED && m.value.track) {
      this.subscribed.delete(m.value.track.id);
      this.remote.delete(m.value.track.id);
    }
    if (m.case === "trackUpdate" && m.value.track?.mutedBy) {
      // A moderator muted one of our tracks at the SFU: show it muted here too (unmuting is ours).
      const l = this.local.find((x) => x.trackId === m.value.track?.id);
      if (l && !l.muted) {
        l.muted = true;
        l.track.enabled = false;
        this.emit();
      }
    }
    if (m.case === "trackUpdate" && this.state.status === "live") {
      void this.queue(() => this.negotiate([], true)).catch(() => undefined);
    }
    if (m.case === "left") this.closeTransport();
    if (m.case === "reconnect") this.ws?.close();
  }

  private send(message: Message, requestId = 0): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(toBinary(SignalRequestSchema, create(SignalRequestSchema, { requestId, message })));
  }

  private request(message: Message, timeoutMs = 20_000): Promise<SignalResponse> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error("TIMEOUT"));
      }, timeoutMs);
      this.waiters.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.send(message, id);
    });
  }

  private queue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** One offer/answer round: publish `publish`, and (with `subscribe`) receive every track not yet
   * received. The wanted tracks are read when the round runs, not when it was queued: a track may
   * be unpublished in between, and signaling refuses the whole offer for an unknown track. */
  private restarts: number[] = [];

  private allowRestart(now = Date.now()): boolean {
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    if (this.restarts.length >= 3) return false;
    this.restarts.push(now);
    return true;
  }

  private async negotiate(publish: LocalTrack[], subscribe: boolean): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    publish = publish.filter((l) => !l.transceiver);
    const wanted = subscribe ? this.subscribable() : [];
    if (!publish.length && !wanted.length) return;
    for (const l of publish) l.transceiver = pc.addTransceiver(l.track, { direction: "sendonly" });
    const receivers = wanted.map((t) => {
      this.subscribed.add(t.id);
      return [t, pc.addTransceiver(t.kind === TrackKind.AUDIO ? "audio" : "video", { direction: "recvonly" })] as const;
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2000);
    for (const l of publish) {
      this.send({
        case: "publish",
        value: {
          mid: l.transceiver?.mid ?? "",
          kind: l.track.kind === "audio" ? TrackKind.AUDIO : TrackKind.VIDEO,
          source: l.source,
          name: l.track.label.slice(0, 100),
        },
      });
    }
    if (receivers.length) {
      for (const [t, tr] of receivers) this.mids.set(tr.mid ?? "", t.id);
      this.send({
        case: "subscription",
        value: { subscribe: receivers.map(([t, tr]) => ({ trackId: t.id, mid: tr.mid ?? "" })), unsubscribe: [] },
      });
    }
    const reply = await this.request({ case: "offer", value: { type: "offer", sdp: pc.localDescription?.sdp ?? "" } });
    if (reply.message.case !== "answer") {
      // Undo the round: forget its subscriptions and drop its unanswered transceivers.
      await pc.setLocalDescription({ type: "rollback" }).catch(() => undefined);
      for (const [t, tr] of receivers) {
        this.subscribed.delete(t.id);
        this.mids.delete(tr.mid ?? "");
        tr.stop();
      }
      for (const l of publish) {
        l.transceiver?.stop();
        l.transceiver = undefined;
      }
      const reason = reply.message.case === "error" ? reply.message.value.reason : "NO_ANSWER";
      // A refused offer leaves signaling's pending declarations and the peer connection in doubt:
      // start over on a fresh connection, as a resume does (what the Python SDK does too), a few
      // times a minute at most.
      if (reason !== "DISCONNECTED" && this.pc === pc && this.allowRestart()) this.drop();
      throw new Error(reason);
    }
    await pc.setRemoteDescription({ type: "answer", sdp: reply.message.value.sdp });
  }

  /** Publish local tracks (camera, microphone, screen). */
  async publish(tracks: { track: MediaStreamTrack; source: TrackSource; muted?: boolean }[]): Promise<void> {
    const added = tracks.map((t) => ({ track: t.track, source: t.source, trackId: "", muted: t.muted ?? false }));
    for (const l of added) l.track.enabled = !l.muted;
    this.local.push(...added);
    if (this.state.status === "live") await this.queue(() => this.negotiate(added, false));
  }

  setMuted(kind: "audio" | "video", muted: boolean): void {
    for (const l of this.local) {
      if (l.track.kind !== kind || l.source === TrackSource.SCREEN) continue;
      l.muted = muted;
      l.track.enabled = !muted;
      if (l.trackId) this.send({ case: "mute", value: { trackId: l.trackId, muted } });
    }
    this.emit();
  }

  isMuted(kind: "audio" | "video"): boolean {
    const l = this.local.find((x) => x.track.kind === kind && x.source !== TrackSource.SCREEN);
    return l ? l.muted : true;
  }

  /** Stop publishing a local track (a screen share). */
  unpublish(track: MediaStreamTrack): void {
    const l = this.local.find((x) => x.track === track);
    if (!l) return;
    this.local = this.local.filter((x) => x !== l);
    if (l.trackId) this.send({ case: "unpublish", value: { trackId: l.trackId } });
    if (l.transceiver) {
      void l.transceiver.sender.replaceTrack(null);
      l.transceiver.direction = "inactive";
    }
    track.stop();
    this.emit();
  }

  /** Pause (hidden) or resume every subscribed video track at the SFU for this client. */
  setVideoVisible(visible: boolean): void {
    const ids = [...this.subscribed].filter((id) => this.state.tracks[id]?.kind === TrackKind.VIDEO);
    if (ids.length === 0 || this.state.status !== "live") return;
    this.send({ case: "visibility", value: visible ? { shown: ids, hidden: [] } : { hidden: ids, shown: [] } });
  }

  /** Ask one participant to unmute their microphone (moderators; the person decides). */
  requestUnmute(participant: string): void {
    this.send({ case: "requestUnmute", value: { participant, source: TrackSource.MICROPHONE } });
  }

  /** Mute someone's microphone (or camera) at the SFU (moderators; they may unmute again). */
  muteParticipant(participant: string, source: TrackSource = TrackSource.MICROPHONE): void {
    this.send({ case: "muteParticipant", value: { participant, source } });
  }

  /** Who waits in the lobby now (moderators ask the meeting service when a session starts). */
  setWaiting(waiting: Waiting[]): void {
    this.state = { ...this.state, waiting };
    this.emit();
  }

  /** Someone left the lobby through this client (admitted or denied here). */
  dropWaiting(participant: string): void {
    this.setWaiting(this.state.waiting.filter((w) => w.participant !== participant));
  }

  /** Send a reaction to everyone; signaling does not echo it, so it is shown here too. */
  react(emoji: string): void {
    this.send({ case: "reaction", value: { emoji } });
    this.apply(create(SignalResponseSchema, { message: { case: "reaction", value: { from: this.state.me, emoji } } }));
  }

  /** Forget reactions that have been on screen long enough. */
  pruneReactions(now = Date.now()): void {
    const reactions = this.state.reactions.filter((r) => now - r.at < REACTION_MS);
    if (reactions.length === this.state.reactions.length) return;
    this.state = { ...this.state, reactions };
    this.emit();
  }

  /** Mute every other participant's microphone (moderators). */
  muteAll(): void {
    this.send({ case: "muteAll", value: { source: TrackSource.MICROPHONE } });
  }

  /** Raise or lower the caller's hand. */
  raiseHand(raised: boolean): void {
    this.send({ case: "raiseHand", value: { raised } });
  }

  /** Lower one participant's hand, or every raised hand (moderators). */
  lowerHands(participants: string[] = []): void {
    this.send({ case: "lowerHands", value: { participants } });
  }

  dismissAlert(participant: string): void {
    this.state = { ...this.state, alerts: this.state.alerts.filter((a) => a.participant !== participant) };
    this.emit();
  }

  dismissUnmuteRequest(): void {
    this.state = { ...this.state, unmuteRequest: "" };
    this.emit();
  }

  /** Send a chat message to everyone; signaling does not echo it, so it is added here. */
  chat(text: string): void {
    this.send({ case: "chat", value: { text, to: [] } });
    this.apply(
      create(SignalResponseSchema, {
        message: { case: "chat", value: { from: this.state.me, text, sendTime: timestampNow() } },
      }),
    );
  }

  record(on: boolean): void {
    this.send({ case: "recording", value: { record: on } });
  }

  /** Leave for good: tell signaling, close everything. */
  async leave(): Promise<void> {
    this.closing = true;
    this.send({ case: "leave", value: {} });
    this.closeTransport();
    this.state = { ...this.state, status: "left", leftReason: this.state.leftReason || "left" };
    this.emit();
  }

  /** Stop local devices too (the page is going away). */
  dispose(): void {
    this.closing = true;
    this.closeTransport();
    for (const l of this.local) l.track.stop();
    this.listeners.clear();
  }

  /** Cut the connection as a network failure would; the session resumes by itself. */
  drop(): void {
    this.ws?.close();
  }

  private closeTransport(): void {
    clearInterval(this.pinger);
    this.closing = this.closing || this.state.status === "left";
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
    this.pc?.close();
    this.pc = undefined;
  }

  private startPings(): void {
    clearInterval(this.pinger);
    this.lastPong = Date.now();
    const every = this.options.pingIntervalMs ?? 5000;
    this.pinger = setInterval(() => {
      if (Date.now() - this.lastPong > every * 2.5) {
        this.ws?.close(); // no answer: treat as a drop
        return;
      }
      this.send({ case: "ping", value: { timestampMs: BigInt(Date.now()) } }, this.nextId++);
    }, every);
  }

  private resuming = false;

  private dropped(ws: WebSocket): void {
    if (ws !== this.ws || this.closing || this.state.status === "left") return;
    for (const [, w] of this.waiters) w(create(SignalResponseSchema, { message: { case: "error", value: { reason: "DISCONNECTED" } } }));
    this.waiters.clear();
    if (this.resuming) return;
    clearInterval(this.pinger);
    this.ws = undefined;
    this.pc?.close();
    this.pc = undefined;
    this.state = { ...this.state, status: "reconnecting" };
    this.emit();
    this.resuming = true;
    void this.resume().finally(() => {
      this.resuming = false;
    });
  }

  private async resume(): Promise<void> {
    const resumeToken = this.state.resumeToken;
    for (let attempt = 0; !this.closing && this.state.status !== "left"; attempt++) {
      await new Promise((r) => setTimeout(r, backoff(attempt)));
      if (this.closing) return;
      if (typeof navigator !== "undefined" && navigator.onLine === false) continue;
      try {
        await this.connect(resumeToken);
        return;
      } catch (err) {
        const reason = err instanceof Error ? err.message : "";
        if (reason === "INVALID_TOKEN" || reason === "TOKEN_EXPIRED" || reason === "UNAUTHENTICATED") {
          try {
            this.token = await this.options.renewToken();
          } catch {
            this.state = { ...this.state, status: "left", leftReason: "removed" };
            this.emit();
            return;
          }
        } else if (reason === "PERMISSION_DENIED") {
          this.state = { ...this.state, status: "left", leftReason: "removed" };
          this.emit();
          return;
        }
      }
    }
  }
}

function gathered(pc: RTCPeerConnection, limitMs: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, limitMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
