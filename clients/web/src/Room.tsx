// The meeting room: video grid or speaker view, controls, chat, people, captions, lobby knocks.
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Participant_State, Role, type Meeting } from "@gen/meetmesh/meeting/v1/meeting_pb";
import { TrackSource } from "@gen/meetmesh/signaling/v1/signaling_pb";
import { useEffect, useRef, useState, useSyncExternalStore, type FormEvent } from "react";
import { meetings } from "./api";
import { leftKey } from "./errors";
import { useI18n } from "./i18n";
import { REACTION_MS, displayName, gridShape, hasGrant, spotlight, tiles, type Tile } from "./roomState";
import { rememberRecording } from "./insights";
import { meetingId, navigate } from "./router";
import type { RoomConnection } from "./rtc";
import { ErrorBanner, LangButton, Page } from "./ui";

type Panel = "" | "chat" | "people";

function useRoom(conn: RoomConnection) {
  const [, force] = useState(0);
  useEffect(() => conn.subscribe(() => force((n) => n + 1)), [conn]);
  return conn.state;
}

function useOnline(): boolean {
  return useSyncExternalStore(
    (cb) => {
      window.addEventListener("online", cb);
      window.addEventListener("offline", cb);
      return () => {
        window.removeEventListener("online", cb);
        window.removeEventListener("offline", cb);
      };
    },
    () => navigator.onLine,
  );
}

export function Room({ conn, meetingName, meeting, onRejoin }: { conn: RoomConnection; meetingName: string; meeting?: Meeting; onRejoin: () => void }) {
  const { t } = useI18n();
  const state = useRoom(conn);
  const online = useOnline();
  const [panel, setPanel] = useState<Panel>("");
  const [layout, setLayout] = useState<"grid" | "speaker">("grid");
  const [captionsOn, setCaptionsOn] = useState(true);
  const [screen, setScreen] = useState<MediaStreamTrack>();
  const [error, setError] = useState<unknown>();
  const [reacting, setReacting] = useState(false);
  const [unread, setUnread] = useState(0);
  const stage = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ w: 1280, h: 720 });
  const moderator = hasGrant(state, "moderate");
  const canRecord = hasGrant(state, "record") && (meeting?.settings?.recordingAllowed ?? false);

  // Going offline cuts signaling at once (the session resumes when the network is back).
  useEffect(() => {
    if (!online) conn.drop();
  }, [online, conn]);

  // A hidden tab displays no video: the SFU pauses it for this client (TrackVisibility) until the
  // tab is visible again.
  useEffect(() => {
    const onChange = () => conn.setVideoVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", onChange);
    return () => document.removeEventListener("visibilitychange", onChange);
  }, [conn]);

  useEffect(() => {
    const el = stage.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, [state.status]);

  // Hosts and co-hosts see who knocks: signaling's lobby events keep the list; who already waits
  // is asked of the meeting service whenever the session (re)starts (events sent while it was
  // away are lost).
  const live = state.status === "live";
  useEffect(() => {
    if (!moderator || !live) return;
    let stop = false;
    meetings
      .listParticipants({ parent: meetingName, state: Participant_State.WAITING, pageSize: 50 })
      .then((r) => {
        if (!stop) conn.setWaiting(r.participants.map((p) => ({ participant: p.name.split("/").pop() ?? "", name: p.displayName })));
      })
      .catch(() => undefined);
    return () => {
      stop = true;
    };
  }, [moderator, meetingName, live, state.resumed, conn]);

  // Reactions leave the screen after a few seconds.
  const reactionCount = state.reactions.length;
  useEffect(() => {
    if (!reactionCount) return;
    const timer = setTimeout(() => conn.pruneReactions(), REACTION_MS);
    return () => clearTimeout(timer);
  }, [reactionCount, state.reactions[0]?.key, conn]);

  useEffect(() => rememberRecording(state.lastRecording, state.lastRecordingUri), [state.lastRecording, state.lastRecordingUri]);

  const chatCount = state.chat.length;
  useEffect(() => {
    if (panel !== "chat" && chatCount) setUnread((n) => n + 1);
  }, [chatCount]);
  useEffect(() => {
    if (panel === "chat") setUnread(0);
  }, [panel]);

  if (state.status === "left") {
    const removed = state.leftReason === "removed";
    return (
      <Page title={t(leftKey(state.leftReason))}>
        <div className="card center" data-testid="left" data-reason={state.leftReason}>
          <p role="status">{t(leftKey(state.leftReason))}</p>
          <div className="actions">
            <button type="button" className="primary" onClick={() => navigate("/")}>
              {t("left.back")}
            </button>
            {!removed && state.leftReason !== "meeting_ended" && (
              <button type="button" onClick={onRejoin}>
                {t("left.rejoin")}
              </button>
            )}
            <button type="button" onClick={() => navigate(`/m/${meetingId(meetingName)}/summary`)}>
              {t("meetings.summary")}
            </button>
          </div>
        </div>
      </Page>
    );
  }

  const all = tiles(state);
  const micMuted = conn.isMuted("audio");
  const handRaised = !!state.participants[state.me]?.handRaised;
  const camMuted = conn.isMuted("video");
  const focus = layout === "speaker" ? spotlight(state, all) : undefined;
  const shape = gridShape(focus ? 1 : all.length, size.w, size.h);
  const remoteAudio = Object.values(state.tracks).filter((tr) => tr.participant !== state.me && tr.kind === 1);

  async function share() {
    if (screen) {
      conn.unpublish(screen);
      setScreen(undefined);
      return;
    }
    try {
      const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      const track = s.getVideoTracks()[0];
      track.addEventListener("ended", () => {
        conn.unpublish(track);
        setScreen(undefined);
      });
      setScreen(track);
      await conn.publish([{ track, source: TrackSource.SCREEN }]);
    } catch (err) {
      if (!(err instanceof DOMException && err.name === "NotAllowedError")) setError(err);
    }
  }

  const act = (p: Promise<unknown>) => void p.catch(setError);

  return (
    <main id="main" className="room" aria-label={t("room.label")} data-status={state.status}>
      <header className="room-top">
        <h1>{meeting?.title ?? ""}</h1>
        {state.recording && (
          <span className="rec" role="status" data-testid="recording">
            ● {t("room.recording")}
          </span>
        )}
        <LangButton />
      </header>
      {state.status === "reconnecting" && (
        <div className="banner warn" role="alert" data-testid="reconnecting">
          {t("room.reconnecting")}
        </div>
      )}
      {state.status === "connecting" && (
        <div className="banner info" role="status">
          {t("room.joining")}
        </div>
      )}
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      {state.recording && (
        <div className="banner info" role="status" data-testid="recording-consent">
          {t("room.recordingConsent")}
        </div>
      )}
      {!state.recording && state.lastRecordingUri && (
        <div className="banner info" role="status" data-testid="recording-saved">
          <span>{t("room.recordingSaved")}</span>
          <a href={state.lastRecordingUri} target="_blank" rel="noreferrer">
            {t("after.download")}
          </a>
        </div>
      )}
      {state.alerts.map((a) => (
          <div key={a.participant} className="banner warn" role="alert" data-testid="synthetic-alert" data-participant={a.participant}>
            <span>{t("room.syntheticAlert", { name: displayName(state, a.participant), score: a.score.toFixed(2) })}</span>
            <button type="button" onClick={() => conn.dismissAlert(a.participant)}>
              {t("room.dismiss")}
            </button>
          </div>
        ))}
      {state.unmuteRequest && micMuted && (
        <div className="banner knock" role="alert" data-testid="unmute-request">
          <span>{t("room.unmuteAsked", { name: displayName(state, state.unmuteRequest) })}</span>
          <button type="button" className="primary" onClick={() => (conn.setMuted("audio", false), conn.dismissUnmuteRequest())}>
            {t("room.unmute")}
          </button>
          <button type="button" onClick={() => conn.dismissUnmuteRequest()}>
            {t("room.stayMuted")}
          </button>
        </div>
      )}
      {moderator &&
        state.waiting.map((w) => (
          <div key={w.participant} className="banner knock" role="alert" data-testid="knock" data-participant={w.participant}>
            <span>{t("lobby.knock", { name: w.name })}</span>
            <button type="button" className="primary" onClick={() => act(meetings.admitParticipant({ name: `${meetingName}/participants/${w.participant}` }).then(() => conn.dropWaiting(w.participant)))}>
              {t("lobby.admit")}
            </button>
            <button type="button" onClick={() => act(meetings.denyParticipant({ name: `${meetingName}/participants/${w.participant}` }).then(() => conn.dropWaiting(w.participant)))}>
              {t("lobby.deny")}
            </button>
          </div>
        ))}
      <div className="room-body">
        <div className={`stage ${layout}`} ref={stage}>
          {focus && <TileView tile={focus} conn={conn} big />}
          <div
            className={focus ? "filmstrip" : "grid"}
            style={focus ? undefined : { gridTemplateColumns: `repeat(${shape.cols}, 1fr)`, gridTemplateRows: `repeat(${shape.rows}, 1fr)` }}
          >
            {all.filter((tile) => tile !== focus).map((tile) => (
              <TileView key={tile.key} tile={tile} conn={conn} />
            ))}
          </div>
          {captionsOn && <Captions conn={conn} />}
          <Reactions conn={conn} />
        </div>
        {panel === "chat" && <ChatPanel conn={conn} onClose={() => setPanel("")} />}
        {panel === "people" && (
          <PeoplePanel conn={conn} meetingName={meetingName} onError={setError} onClose={() => setPanel("")} />
        )}
      </div>
      {remoteAudio.map((tr) => (
        <RemoteAudio key={tr.id} track={conn.remote.get(tr.id)} />
      ))}
      <nav className="controls" aria-label={t("room.label")}>
        <button type="button" aria-pressed={micMuted} data-testid="mic" onClick={() => conn.setMuted("audio", !micMuted)}>
          {t(micMuted ? "room.unmute" : "room.mute")}
        </button>
        <button type="button" aria-pressed={camMuted} data-testid="cam" onClick={() => conn.setMuted("video", !camMuted)}>
          {t(camMuted ? "room.camOn" : "room.camOff")}
        </button>
        <button type="button" aria-pressed={handRaised} data-testid="hand" onClick={() => conn.raiseHand(!handRaised)}>
          {t(handRaised ? "room.lowerHand" : "room.raiseHand")}
        </button>
        <span className="react-wrap" onKeyDown={(e) => e.key === "Escape" && setReacting(false)}>
          <button type="button" aria-expanded={reacting} aria-controls="reaction-menu" data-testid="react" onClick={() => setReacting(!reacting)}>
            {t("room.react")}
          </button>
          {reacting && (
            <span id="reaction-menu" className="reaction-menu" role="group" aria-label={t("room.react")}>
              {REACTIONS.map(([emoji, key]) => (
                <button key={emoji} type="button" aria-label={t(key)} title={t(key)} onClick={() => (conn.react(emoji), setReacting(false))}>
                  {emoji}
                </button>
              ))}
            </span>
          )}
        </span>
        {hasGrant(state, "publish") && (
          <button type="button" aria-pressed={!!screen} data-testid="share" onClick={() => void share()}>
            {t(screen ? "room.stopShare" : "room.share")}
          </button>
        )}
        <button type="button" aria-pressed={layout === "speaker"} onClick={() => setLayout(layout === "grid" ? "speaker" : "grid")}>
          {t(layout === "grid" ? "room.layout.speaker" : "room.layout.grid")}
        </button>
        <button type="button" aria-pressed={captionsOn} onClick={() => setCaptionsOn(!captionsOn)}>
          {t("room.captions")}
        </button>
        <button type="button" aria-pressed={panel === "chat"} data-testid="chat-toggle" onClick={() => setPanel(panel === "chat" ? "" : "chat")}>
          {t("room.chat")}
          {unread > 0 && panel !== "chat" ? ` (${unread})` : ""}
        </button>
        <button type="button" aria-pressed={panel === "people"} data-testid="people-toggle" onClick={() => setPanel(panel === "people" ? "" : "people")}>
          {t("room.people")} ({Object.keys(state.participants).length})
        </button>
        {canRecord && (
          <button type="button" aria-pressed={state.recording} data-testid="record" onClick={() => conn.record(!state.recording)}>
            {t(state.recording ? "room.stopRecord" : "room.record")}
          </button>
        )}
        <button type="button" className="danger" data-testid="leave" onClick={() => void conn.leave()}>
          {t("room.leave")}
        </button>
        {moderator && (
          <button type="button" className="danger" data-testid="end" onClick={() => act(meetings.endMeeting({ name: meetingName }))}>
            {t("room.endAll")}
          </button>
        )}
      </nav>
    </main>
  );
}

function TileView({ tile, conn, big }: { tile: Tile; conn: RoomConnection; big?: boolean }) {
  const { t } = useI18n();
  const ref = useRef<HTMLVideoElement>(null);
  const state = conn.state;
  const mine = tile.participant === state.me;
  const local = mine ? conn.local.find((l) => (tile.screen ? l.source === TrackSource.SCREEN : l.source === TrackSource.CAMERA) && l.track.kind === "video") : undefined;
  const media = mine ? local?.track : tile.video ? conn.remote.get(tile.video.id) : undefined;
  const videoMuted = mine ? (local?.muted ?? true) : (tile.video?.muted ?? true);
  const audioMuted = mine ? conn.isMuted("audio") : (tile.audio?.muted ?? true);
  const speaking = !tile.screen && state.speakers.includes(tile.participant);
  const emotion = state.emotions[tile.participant];
  const name = displayName(state, tile.participant);
  const label = tile.screen ? t("room.screenOf", { name }) : mine ? `${name} (${t("room.you")})` : name;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const want = media ? new MediaStream([media]) : null;
    const current = el.srcObject as MediaStream | null;
    if (current?.getTracks()[0] !== media) el.srcObject = want;
  }, [media]);

  return (
    <figure
      className={`tile${speaking ? " speaking" : ""}${big ? " big" : ""}`}
      data-testid="tile"
      data-participant={tile.participant}
      data-mine={mine ? "1" : "0"}
      data-screen={tile.screen ? "1" : "0"}
    >
      <video ref={ref} autoPlay playsInline muted aria-label={label} hidden={videoMuted && !tile.screen} />
      {videoMuted && !tile.screen && (
        <div className="avatar" aria-hidden="true">
          {name.slice(0, 1).toUpperCase()}
        </div>
      )}
      <figcaption>
        {!tile.screen && state.participants[tile.participant]?.handRaised && (
          <span className="hand" role="img" aria-label={t("people.handRaised")} title={t("people.handRaised")} data-testid="tile-hand">
            ✋{" "}
          </span>
        )}
        {label}
        {audioMuted && !tile.screen && <span className="badge"> · {t("room.muted")}</span>}
        {speaking && <span className="badge"> · {t("room.speaking")}</span>}
      </figcaption>
      {emotion && !tile.screen && (
        <span className="emotion-badge" data-testid="emotion">
          {t("room.emotion", { emotion: t(`emotionAdj.${emotion}`) })}
        </span>
      )}
    </figure>
  );
}

function RemoteAudio({ track }: { track?: MediaStreamTrack }) {
  const ref = useRef<HTMLAudioElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.srcObject = track ? new MediaStream([track]) : null;
  }, [track]);
  return <audio ref={ref} autoPlay />;
}

function Captions({ conn }: { conn: RoomConnection }) {
  const { t } = useI18n();
  const state = conn.state;
  const recent = state.captions.slice(-3);
  return (
    <div className="captions" role="log" aria-live="polite" aria-label={t("room.captions")} data-testid="captions">
      {recent.map((c, i) => (
        <p key={`${c.participant}-${c.utterance}-${i}`} className={c.final ? "final" : "interim"}>
          <strong>{displayName(state, c.participant)}:</strong> {c.text}
        </p>
      ))}
    </div>
  );
}

const REACTIONS: [string, string][] = [
  ["👍", "react.thumbsUp"],
  ["👏", "react.clap"],
  ["😂", "react.laugh"],
  ["🎉", "react.celebrate"],
  ["❤️", "react.heart"],
];

function Reactions({ conn }: { conn: RoomConnection }) {
  const state = conn.state;
  return (
    <ul className="reactions" aria-live="polite" data-testid="reactions">
      {state.reactions.map((r) => (
        <li key={r.key} data-testid="reaction" data-participant={r.from}>
          <span className="emoji">{r.emoji}</span> {displayName(state, r.from)}
        </li>
      ))}
    </ul>
  );
}

function ChatPanel({ conn, onClose }: { conn: RoomConnection; onClose: () => void }) {
  const { t, lang } = useI18n();
  const [text, setText] = useState("");
  const state = conn.state;
  const list = useRef<HTMLOListElement>(null);
  const fmt = new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en", { timeStyle: "short" });
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: "end" });
  }, [state.chat.length]);
  function send(e: FormEvent) {
    e.preventDefault();
    const value = text.trim();
    if (!value || value.length > 4000) return;
    conn.chat(value);
    setText("");
  }
  return (
    <aside className="panel" aria-labelledby="chat-h" data-testid="chat">
      <div className="panel-head">
        <h2 id="chat-h">{t("room.chat")}</h2>
        <button type="button" className="link" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
      {!state.chat.length && <p className="muted">{t("room.noChat")}</p>}
      <ol className="chat" ref={list} aria-live="polite">
        {state.chat.map((c, i) => (
          <li key={i} data-testid="chat-line">
            <span className="muted">
              {c.from === state.me ? t("room.you") : displayName(state, c.from)} · {fmt.format(c.time)}
            </span>
            <p>{c.text}</p>
          </li>
        ))}
      </ol>
      <form onSubmit={send} className="row">
        <label className="sr-only" htmlFor="chat-input">
          {t("room.chatPlaceholder")}
        </label>
        <input id="chat-input" data-testid="chat-input" value={text} maxLength={4000} placeholder={t("room.chatPlaceholder")} onChange={(e) => setText(e.target.value)} />
        <button type="submit">{t("room.send")}</button>
      </form>
    </aside>
  );
}

const ROLES: [Role, string][] = [
  [Role.CO_HOST, "co_host"],
  [Role.PARTICIPANT, "participant"],
  [Role.VIEWER, "viewer"],
];

function PeoplePanel({
  conn,
  meetingName,
  onError,
  onClose,
}: {
  conn: RoomConnection;
  meetingName: string;
  onError: (e: unknown) => void;
  onClose: () => void;
}) {
  const { t } = useI18n();
  const state = conn.state;
  const moderator = hasGrant(state, "moderate");
  const people = Object.values(state.participants);
  const resource = (id: string) => `${meetingName}/participants/${id}`;
  const act = (p: Promise<unknown>) => void p.catch(onError);
  return (
    <aside className="panel" aria-labelledby="people-h" data-testid="people">
      <div className="panel-head">
        <h2 id="people-h">{t("room.people")}</h2>
        <button type="button" className="link" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
      {moderator && state.waiting.length > 0 && (
        <>
          <h3>{t("people.waiting")}</h3>
          <ul className="people">
            {state.waiting.map((w) => (
              <li key={w.participant}>
                <span>{w.name}</span>
                <button type="button" onClick={() => act(meetings.admitParticipant({ name: resource(w.participant) }).then(() => conn.dropWaiting(w.participant)))}>
                  {t("lobby.admit")}
                </button>
                <button type="button" onClick={() => act(meetings.denyParticipant({ name: resource(w.participant) }).then(() => conn.dropWaiting(w.participant)))}>
                  {t("lobby.deny")}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>{t("people.inRoom")}</h3>
      {moderator && (
        <div className="people-actions">
          <button type="button" data-testid="mute-all" onClick={() => conn.muteAll()}>
            {t("people.muteAll")}
          </button>
          {people.some((p) => p.handRaised) && (
            <button type="button" data-testid="lower-hands" onClick={() => conn.lowerHands()}>
              {t("people.lowerHands")}
            </button>
          )}
        </div>
      )}
      <ul className="people">
        {people.map((p) => {
          const mine = p.id === state.me;
          const name = displayName(state, p.id);
          return (
            <li key={p.id} data-testid="person" data-participant={p.id}>
              <span>
                {name}
                {mine && ` (${t("room.you")})`} · {t(`people.role.${p.role}`)}
                {p.handRaised && (
                  <>
                    {" "}
                    <span className="hand" data-testid="hand-raised" role="img" aria-label={t("people.handRaised")} title={t("people.handRaised")}>
                      ✋
                    </span>
                  </>
                )}
              </span>
              {moderator && !mine && p.role !== "host" && (
                <>
                  <label className="sr-only" htmlFor={`role-${p.id}`}>
                    {t("people.role", { name })}
                  </label>
                  <select
                    id={`role-${p.id}`}
                    value={p.role}
                    onChange={(e) => {
                      const role = ROLES.find(([, n]) => n === e.target.value)?.[0] ?? Role.PARTICIPANT;
                      act(
                        meetings.updateParticipant({
                          participant: { name: resource(p.id), role },
                          updateMask: create(FieldMaskSchema, { paths: ["role"] }),
                        }),
                      );
                    }}
                  >
                    {ROLES.map(([, n]) => (
                      <option key={n} value={n}>
                        {t(`people.role.${n}`)}
                      </option>
                    ))}
                  </select>
                  {state.tracks && Object.values(state.tracks).some((tr) => tr.participant === p.id && tr.kind === 1 && tr.muted) && (
                    <button type="button" data-testid="ask-unmute" onClick={() => conn.requestUnmute(p.id)}>
                      {t("people.askUnmute")}
                    </button>
                  )}
                  {Object.values(state.tracks).some((tr) => tr.participant === p.id && tr.kind === 1 && !tr.muted) && (
                    <button type="button" data-testid="mute-person" onClick={() => conn.muteParticipant(p.id)}>
                      {t("people.mute")}
                    </button>
                  )}
                  {Object.values(state.tracks).some((tr) => tr.participant === p.id && tr.kind === 2 && tr.source !== TrackSource.SCREEN && !tr.muted) && (
                    <button type="button" data-testid="stop-camera" onClick={() => conn.muteParticipant(p.id, TrackSource.CAMERA)}>
                      {t("people.stopCamera")}
                    </button>
                  )}
                  {p.handRaised && (
                    <button type="button" data-testid="lower-hand" onClick={() => conn.lowerHands([p.id])}>
                      {t("people.lowerHand")}
                    </button>
                  )}
                  <button type="button" className="danger" data-testid="remove" onClick={() => act(meetings.removeParticipant({ name: resource(p.id) }))}>
                    {t("people.remove")}
                  </button>
                </>
              )}
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
