// Pre-join (preview, devices, name, mic/camera off), the lobby wait, then the room.
import { Code, ConnectError } from "@connectrpc/connect";
import { Participant_State, type Meeting } from "@gen/meetmesh/meeting/v1/meeting_pb";
import { TrackSource } from "@gen/meetmesh/signaling/v1/signaling_pb";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { meetings, rtcUrl, session } from "./api";
import { errorReason } from "./errors";
import { useI18n } from "./i18n";
import { Room } from "./Room";
import { navigate } from "./router";
import { RoomConnection } from "./rtc";
import { Check, ErrorBanner, Field, Page } from "./ui";
import { checkPasscode, checkText, type Problem } from "./validation";

type Phase = "prejoin" | "lobby" | "room";

export function Join({ id }: { id: string }) {
  const { t } = useI18n();
  const name = `meetings/${id}`;
  const [phase, setPhase] = useState<Phase>("prejoin");
  const [meeting, setMeeting] = useState<Meeting>();
  const [known, setKnown] = useState(true);
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [cameraId, setCameraId] = useState("");
  const [micId, setMicId] = useState("");
  const [camOn, setCamOn] = useState(true);
  const [micOn, setMicOn] = useState(true);
  const [displayName, setDisplayName] = useState(session.user?.displayName ?? "");
  const [passcode, setPasscode] = useState("");
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  const [error, setError] = useState<unknown>();
  const [stream, setStream] = useState<MediaStream>();
  const [conn, setConn] = useState<RoomConnection>();
  const cancelled = useRef(false);
  const handedOver = useRef(false);
  const media = useRef<Promise<MediaStream | undefined>>(Promise.resolve(undefined));
  const preview = useRef<HTMLVideoElement>(null);

  useEffect(() => {
    meetings
      .getMeeting({ name })
      .then((r) => setMeeting(r.meeting))
      .catch(() => setKnown(false)); // not visible until joined: still joinable by link
  }, [name]);

  const accountName = session.user?.displayName ?? "";
  useEffect(() => {
    if (accountName) setDisplayName((n) => n || accountName);
  }, [accountName]);

  // The preview stream follows the chosen devices (and is fetched again for a rejoin).
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let stopped = false;
    let current: MediaStream | undefined;
    const pending = navigator.mediaDevices
      .getUserMedia({
        audio: micId ? { deviceId: { exact: micId } } : true,
        video: cameraId ? { deviceId: { exact: cameraId }, width: 640, height: 360 } : { width: 640, height: 360 },
      })
      .then(async (s) => {
        if (stopped) {
          s.getTracks().forEach((tr) => tr.stop());
          return undefined;
        }
        current = s;
        setStream(s);
        setDevices(await navigator.mediaDevices.enumerateDevices());
        return s;
      })
      .catch((err) => {
        setError(err);
        return undefined; // join without camera and microphone
      });
    media.current = pending;
    return () => {
      stopped = true;
      // Handed to the room when joining; stopped otherwise.
      if (current && !handedOver.current) current.getTracks().forEach((tr) => tr.stop());
    };
  }, [generation, cameraId, micId]);

  useEffect(() => {
    if (preview.current) preview.current.srcObject = camOn && stream ? stream : null;
  }, [stream, camOn, phase]);

  useEffect(() => () => conn?.dispose(), [conn]);

  async function join(e: FormEvent) {
    e.preventDefault();
    const found = { name: checkText(displayName, 100), passcode: checkPasscode(passcode) };
    setProblems(found);
    if (Object.values(found).some(Boolean)) return;
    setError(undefined);
    cancelled.current = false;
    try {
      let reply = await meetings.joinMeeting({ name, passcode, displayName: displayName.trim(), waitForAdmission: false });
      while (reply.participant?.state === Participant_State.WAITING) {
        setPhase("lobby");
        try {
          reply = await meetings.joinMeeting({ name, passcode, displayName: displayName.trim(), waitForAdmission: true }, { timeoutMs: 25_000 });
        } catch (err) {
          if (!(err instanceof ConnectError && err.code === Code.DeadlineExceeded)) throw err;
        }
        if (cancelled.current) return;
      }
      if (cancelled.current) return;
      const connection = new RoomConnection({
        url: rtcUrl(reply.signalingWebsocketPath || "/rtc"),
        token: reply.joinToken,
        renewToken: async () => (await meetings.joinMeeting({ name, passcode, displayName })).joinToken,
      });
      // Joining right away waits for the camera and microphone asked for on this screen.
      const stream = await media.current;
      if (stream) {
        handedOver.current = true;
        const tracks = [
          ...stream.getVideoTracks().map((track) => ({ track, source: TrackSource.CAMERA, muted: !camOn })),
          ...stream.getAudioTracks().map((track) => ({ track, source: TrackSource.MICROPHONE, muted: !micOn })),
        ];
        await connection.publish(tracks);
      }
      (window as unknown as { meetmeshRoom: RoomConnection }).meetmeshRoom = connection;
      setMeeting(reply.meeting);
      setConn(connection);
      setPhase("room");
      await connection.connect();
    } catch (err) {
      setPhase("prejoin");
      handedOver.current = false;
      if (errorReason(err) === "ADMISSION_DENIED") setError("err.denied");
      else setError(err instanceof Error && /^[A-Z_]+$/.test(err.message) ? "err.media" : err);
    }
  }

  async function leaveLobby() {
    cancelled.current = true;
    await meetings.leaveMeeting({ name }).catch(() => undefined);
    navigate("/");
  }

  if (phase === "room" && conn) {
    return <Room conn={conn} meetingName={name} meeting={meeting} onRejoin={() => {
          conn.dispose();
          handedOver.current = false;
          setConn(undefined);
          setGeneration((g) => g + 1);
          setPhase("prejoin");
        }} />;
  }
  if (phase === "lobby") {
    return (
      <Page title={meeting?.title || t("prejoin.title")}>
        <div className="card center" role="status" data-testid="lobby">
          <div className="spinner" aria-hidden="true" />
          <p>{t("lobby.waiting")}</p>
          <button type="button" onClick={() => void leaveLobby()}>
            {t("lobby.cancel")}
          </button>
        </div>
      </Page>
    );
  }
  const cameras = devices.filter((d) => d.kind === "videoinput");
  const mics = devices.filter((d) => d.kind === "audioinput");
  return (
    <Page title={meeting?.title || t("prejoin.title")} wide>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      <div className="prejoin">
        <div className="preview">
          <video ref={preview} autoPlay playsInline muted aria-label={t("prejoin.preview")} />
          {!camOn && <p className="overlay">{t("prejoin.noCamera")}</p>}
        </div>
        <form className="card form" onSubmit={join} noValidate>
          <h2>{t("prejoin.title")}</h2>
          <div className="field">
            <label htmlFor="camera">{t("prejoin.camera")}</label>
            <select id="camera" value={cameraId} onChange={(e) => setCameraId(e.target.value)}>
              {cameras.map((d, i) => (
                <option key={d.deviceId || i} value={d.deviceId}>
                  {d.label || `${t("prejoin.camera")} ${i + 1}`}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="mic">{t("prejoin.mic")}</label>
            <select id="mic" value={micId} onChange={(e) => setMicId(e.target.value)}>
              {mics.map((d, i) => (
                <option key={d.deviceId || i} value={d.deviceId}>
                  {d.label || `${t("prejoin.mic")} ${i + 1}`}
                </option>
              ))}
            </select>
          </div>
          <Check label={t("prejoin.camOn")} checked={camOn} onChange={setCamOn} />
          <Check label={t("prejoin.micOn")} checked={micOn} onChange={setMicOn} />
          <Field label={t("prejoin.name")} name="displayName" value={displayName} maxLength={100} problem={problems.name} onChange={(e) => setDisplayName(e.target.value)} />
          {(!known || meeting?.passcodeProtected) && (
            <Field label={t("prejoin.passcode")} name="passcode" type="password" value={passcode} problem={problems.passcode} onChange={(e) => setPasscode(e.target.value)} />
          )}
          <button type="submit" className="primary" data-testid="join">
            {t("prejoin.join")}
          </button>
        </form>
      </div>
    </Page>
  );
}
