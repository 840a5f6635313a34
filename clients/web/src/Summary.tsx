// After the meeting: recordings (transcoding progress, play, download MP4 of everyone and of each
// participant), transcript (read, download), insights charts.
import { TranscriptFormat, type EmotionInterval, type TranscriptSegment } from "@gen/meetmesh/ai/v1/ai_pb";
import {
  RecordingProgress_State,
  RecordingRendition_Kind,
  type Meeting,
  type Participant,
  type Recording,
  type RecordingProgress,
  type RecordingRendition,
} from "@gen/meetmesh/meeting/v1/meeting_pb";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useState, type ReactNode } from "react";
import { analysis, loadableUrl, meetings, needsToken } from "./api";
import { useI18n } from "./i18n";
import {
  EMOTIONS,
  EMOTION_INTERVALS,
  downloadText,
  emotionInterval,
  emotionRows,
  intervalText,
  joinTimeline,
  recordingUri,
  scaleBars,
  seconds,
  speakingTime,
} from "./insights";
import { ErrorBanner, Page, useLoadableUrl } from "./ui";

export function Summary({ id }: { id: string }) {
  const { t } = useI18n();
  const name = `meetings/${id}`;
  const [meeting, setMeeting] = useState<Meeting>();
  const [recordings, setRecordings] = useState<Recording[]>();
  const [segments, setSegments] = useState<TranscriptSegment[]>();
  const [people, setPeople] = useState<Participant[]>([]);
  const [emotions, setEmotions] = useState<EmotionInterval[]>();
  const [emotionSeconds, setEmotionSeconds] = useState(60);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    meetings.getMeeting({ name }).then((r) => setMeeting(r.meeting), setError);
    meetings.listRecordings({ parent: name, pageSize: 50 }).then((r) => setRecordings(r.recordings), setError);
    meetings.listParticipants({ parent: name, pageSize: 500 }).then((r) => setPeople(r.participants), () => undefined);
    analysis
      .listTranscriptSegments({ parent: name, pageSize: 1000 })
      .then((r) => setSegments(r.transcriptSegments), () => setSegments([]));
    // Emotions in the narrowest interval that keeps the chart short: 10 s first, wider when the
    // meeting ran longer.
    const insights = (seconds: number) =>
      analysis.getMeetingInsights({ name: `${name}/insights`, emotionInterval: { seconds: BigInt(seconds), nanos: 0 } });
    insights(EMOTION_INTERVALS[0])
      .then(async (r) => {
        const rows = r.insights?.emotionTimeline ?? [];
        const times = rows.flatMap((row) => (row.startTime ? [timestampDate(row.startTime).getTime()] : []));
        const span = times.length ? (Math.max(...times) - Math.min(...times)) / 1000 + EMOTION_INTERVALS[0] : 0;
        const wanted = emotionInterval(span);
        if (wanted === EMOTION_INTERVALS[0]) return { rows, seconds: wanted };
        return { rows: (await insights(wanted)).insights?.emotionTimeline ?? [], seconds: wanted };
      })
      .then(
        (r) => (setEmotionSeconds(r.seconds), setEmotions(r.rows)),
        () => setEmotions([]),
      );
  }, [name]);

  const nameOf = (speaker: string) => people.find((p) => p.name === speaker)?.displayName || speaker.split("/").pop() || "?";

  async function exportAs(format: TranscriptFormat) {
    try {
      const r = await analysis.exportTranscript({ name: `${name}/transcript`, format });
      downloadText(`${id}.${format === TranscriptFormat.WEBVTT ? "vtt" : "txt"}`, r.content, r.contentType);
    } catch (err) {
      setError(err);
    }
  }

  const bars = scaleBars(
    [...speakingTime(segments ?? []).entries()].map(([speaker, value]) => ({ label: nameOf(speaker), value })),
    300,
  );
  const timeline = joinTimeline(people);
  const maxMinute = Math.max(1, ...timeline.map((p) => p.minute));
  const emotionChart = emotionRows(emotions ?? [], 300, emotionSeconds);
  const emotionCaption = t("after.emotions", { interval: intervalText(emotionSeconds) });

  return (
    <Page title={`${t("after.title")}${meeting ? ` · ${meeting.title}` : ""}`} wide>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      <section className="card" aria-labelledby="rec-h">
        <h2 id="rec-h">{t("after.recordings")}</h2>
        {recordings && !recordings.length && <p className="muted">{t("after.noRecordings")}</p>}
        <ul className="list">
          {(recordings ?? []).map((r) => (
            <RecordingItem key={r.name} recording={r} nameOf={nameOf} />
          ))}
        </ul>
      </section>
      <section className="card" aria-labelledby="tr-h">
        <h2 id="tr-h">{t("after.transcript")}</h2>
        {segments && !segments.length && <p className="muted">{t("after.noTranscript")}</p>}
        {segments && segments.length > 0 && (
          <>
            <div className="actions">
              <button type="button" onClick={() => void exportAs(TranscriptFormat.TEXT)}>
                {t("after.downloadText")}
              </button>
              <button type="button" onClick={() => void exportAs(TranscriptFormat.WEBVTT)}>
                {t("after.downloadVtt")}
              </button>
            </div>
            <ol className="transcript">
              {segments.map((s, i) => (
                <li key={s.name || i}>
                  <span className="muted">{new Date(seconds(s.startOffset) * 1000).toISOString().slice(11, 19)}</span>{" "}
                  <strong>{nameOf(s.speaker)}:</strong> {s.text}
                  {s.syntheticScore >= 0.5 && <span className="badge warn"> {t("after.synthetic")}</span>}
                </li>
              ))}
            </ol>
          </>
        )}
      </section>
      <section className="card" aria-labelledby="in-h">
        <h2 id="in-h">{t("after.insights")}</h2>
        {bars.length > 0 && (
          <figure>
            <figcaption>{t("after.speaking")}</figcaption>
            <svg role="img" aria-label={t("after.speaking")} width="100%" viewBox={`0 0 460 ${bars.length * 28 + 8}`}>
              {bars.map((b, i) => (
                <g key={b.label} transform={`translate(0 ${i * 28 + 4})`}>
                  <text x="0" y="16" className="svg-label">
                    {b.label}
                  </text>
                  <rect x="120" y="2" width={Math.max(2, b.w)} height="18" rx="3" className="svg-bar" />
                  <text x={126 + b.w} y="16" className="svg-label">
                    {b.value.toFixed(1)}
                  </text>
                </g>
              ))}
            </svg>
          </figure>
        )}
        {timeline.length > 0 && (
          <figure>
            <figcaption>{t("after.timeline")}</figcaption>
            <svg role="img" aria-label={t("after.timeline")} width="100%" viewBox={`0 0 460 ${timeline.length * 24 + 24}`}>
              <line x1="120" y1={timeline.length * 24 + 6} x2="440" y2={timeline.length * 24 + 6} className="svg-axis" />
              {timeline.map((p, i) => (
                <g key={`${p.label}-${i}`} transform={`translate(0 ${i * 24 + 4})`}>
                  <text x="0" y="14" className="svg-label">
                    {p.label}
                  </text>
                  <circle cx={120 + (p.minute / maxMinute) * 320} cy="10" r="6" className="svg-bar" />
                </g>
              ))}
              <text x="120" y={timeline.length * 24 + 20} className="svg-label">
                0 min
              </text>
              <text x="400" y={timeline.length * 24 + 20} className="svg-label">
                {maxMinute.toFixed(1)} min
              </text>
            </svg>
          </figure>
        )}
        {emotions && !emotionChart.length && <p className="muted">{t("after.noEmotions")}</p>}
        {emotionChart.length > 0 && (
          <figure data-testid="emotion-chart">
            <figcaption>{emotionCaption}</figcaption>
            <svg role="img" aria-label={emotionCaption} width="100%" viewBox={`0 0 460 ${emotionChart.length * 28 + 34}`}>
              {emotionChart.map((row, i) => (
                <g key={`${row.label}-${i}`} transform={`translate(0 ${i * 28 + 4})`}>
                  <text x="0" y="16" className="svg-label">
                    {row.label}
                  </text>
                  {row.segments.map((s) => (
                    <rect key={s.emotion} x={60 + s.x} y="2" width={Math.max(1, s.w)} height="18" className={`emo emo-${s.emotion} emo-bar`}>
                      <title>{`${t(`emotion.${s.emotion}`)}: ${s.count}`}</title>
                    </rect>
                  ))}
                  <text x={66 + row.segments.reduce((w, s) => w + s.w, 0)} y="16" className="svg-label">
                    {row.total}
                  </text>
                </g>
              ))}
              <g transform={`translate(0 ${emotionChart.length * 28 + 12})`}>
                {EMOTIONS.map((e, i) => (
                  <g key={e} transform={`translate(${i * 64} 0)`}>
                    <rect width="10" height="10" className={`emo emo-${e}`} />
                    <text x="13" y="10" className="svg-label small">
                      {t(`emotion.${e}`)}
                    </text>
                  </g>
                ))}
              </g>
            </svg>
          </figure>
        )}
      </section>
    </Page>
  );
}

/** Whether this browser plays H.264 + AAC in MP4 (else the WebM original is played). */
function playsMp4(): boolean {
  return typeof document !== "undefined" && document.createElement("video").canPlayType('video/mp4; codecs="avc1.42E01E, mp4a.40.2"') !== "";
}

/** Whether this browser's own <video> plays HLS (Safari; Chromium from about 141). */
function playsHls(): boolean {
  return typeof document !== "undefined" && document.createElement("video").canPlayType("application/vnd.apple.mpegurl") !== "";
}

/** The composite's HLS as a blob URL of its playlist (segments signed by GetRecordingPlaylist), when
 * the recording has one and the browser plays HLS natively; "" otherwise. */
function useHlsUrl(r: Recording): string {
  const [url, setUrl] = useState("");
  const hls = playsHls() && r.renditions.some((x) => x.kind === RecordingRendition_Kind.HLS && !x.participant);
  useEffect(() => {
    if (!hls) return;
    let live = true;
    let made = "";
    meetings.getRecordingPlaylist({ name: r.name }).then(
      (reply) => {
        made = URL.createObjectURL(new Blob([reply.playlist], { type: "application/vnd.apple.mpegurl" }));
        if (live) setUrl(made);
        else URL.revokeObjectURL(made);
      },
      () => undefined, // the file below plays instead
    );
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [r.name, hls]);
  return url;
}

/** Streams the transcoding of a recording that has no renditions yet; the last reply carries them. */
function useTranscoding(initial: Recording): [Recording, RecordingProgress | undefined] {
  const [recording, setRecording] = useState(initial);
  const [progress, setProgress] = useState<RecordingProgress>();
  useEffect(() => {
    setRecording(initial);
    if (!initial.transcodeJob || initial.renditions.length) return;
    const abort = new AbortController();
    (async () => {
      for await (const reply of meetings.watchRecordingProgress({ name: initial.name }, { signal: abort.signal })) {
        setProgress(reply.progress);
        if (reply.recording) setRecording(reply.recording);
      }
    })().catch(() => undefined); // left the page, or the stream broke: the list shows what it has
    return () => abort.abort();
  }, [initial]);
  return [recording, progress];
}

function TranscodeStatus({ progress }: { progress: RecordingProgress }) {
  const { t } = useI18n();
  const percent = Math.round(progress.fraction * 100);
  if (progress.state === RecordingProgress_State.DONE) return null;
  if (progress.state === RecordingProgress_State.FAILED) {
    return (
      <p className="muted" role="status" data-testid="transcode-progress">
        {t("after.transcodeFailed")}
      </p>
    );
  }
  const label = progress.state === RecordingProgress_State.QUEUED ? t("after.transcodeQueued") : t("after.transcoding");
  return (
    <p role="status" data-testid="transcode-progress">
      <label>
        {label} <progress max={100} value={percent} /> {percent} %
      </label>
    </p>
  );
}

/** A download link; for the edge's user-bound object URLs, a button that fetches with the token. */
function DownloadLink({ uri, filename, children }: { uri: string; filename: string; children: ReactNode }) {
  if (!needsToken(uri)) {
    return (
      <a href={uri} download={filename}>
        {children}
      </a>
    );
  }
  async function save() {
    const url = await loadableUrl(uri);
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  return (
    <button type="button" className="link" onClick={() => void save()}>
      {children}
    </button>
  );
}

function RecordingItem({ recording: initial, nameOf }: { recording: Recording; nameOf: (participant: string) => string }) {
  const { t } = useI18n();
  const [r, progress] = useTranscoding(initial);
  const mp4s = r.renditions.filter((x: RecordingRendition) => x.kind === RecordingRendition_Kind.MP4 && x.uri);
  const composite = mp4s.find((x) => !x.participant);
  const playable = composite && playsMp4() ? composite.uri : recordingUri(r);
  const uri = useLoadableUrl(playable);
  const hls = useHlsUrl(r);
  const [hlsFailed, setHlsFailed] = useState(false);
  const stream = hls && !hlsFailed ? hls : "";
  const format = stream ? "hls" : playable === composite?.uri ? "mp4" : "webm";
  const label = `${t("after.recordings")} ${Math.round(r.durationSeconds)} s`;
  const id = r.name.split("/").pop();
  return (
    <li data-testid="recording-item">
      {stream || uri ? (
        <video
          controls
          preload="metadata"
          src={stream || uri}
          data-format={format}
          // Chromium's HLS player reads segments from the object store's origin only with CORS.
          crossOrigin={stream ? "anonymous" : undefined}
          aria-label={label}
          onError={() => stream && setHlsFailed(true)}
        />
      ) : (
        <p className="muted">{t("after.noLink")}</p>
      )}
      {progress && <TranscodeStatus progress={progress} />}
      <p>
        {Math.round(r.durationSeconds)} s · {(Number(playable === composite?.uri ? composite.sizeBytes : r.sizeBytes) / 1e6).toFixed(1)} MB
        {uri && (
          <>
            {" · "}
            <a href={uri} download={`${id}.${playable === composite?.uri ? "mp4" : "webm"}`}>
              {t("after.download")}
            </a>
          </>
        )}
      </p>
      {mp4s.length > 0 && (
        <ul className="actions" style={{ listStyle: "none", padding: 0 }} aria-label={t("after.downloadMp4")} data-testid="recording-renditions">
          {mp4s.map((x) => {
            const who = x.participant ? nameOf(x.participant) : t("after.everyone");
            return (
              <li key={x.objectKey}>
                <DownloadLink uri={x.uri} filename={`${id}-${x.participant.split("/").pop() || "all"}.mp4`}>
                  {t("after.downloadMp4")}: {who} ({(Number(x.sizeBytes) / 1e6).toFixed(1)} MB)
                </DownloadLink>
              </li>
            );
          })}
        </ul>
      )}
    </li>
  );
}
