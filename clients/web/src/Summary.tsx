// After the meeting: recordings (play, download), transcript (read, download), insights charts.
import { TranscriptFormat, type EmotionInterval, type TranscriptSegment } from "@gen/meetmesh/ai/v1/ai_pb";
import { type Meeting, type Participant, type Recording } from "@gen/meetmesh/meeting/v1/meeting_pb";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "react";
import { analysis, meetings } from "./api";
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
            <RecordingItem key={r.name} recording={r} />
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

function RecordingItem({ recording: r }: { recording: Recording }) {
  const { t } = useI18n();
  const uri = useLoadableUrl(recordingUri(r));
  const label = `${t("after.recordings")} ${Math.round(r.durationSeconds)} s`;
  return (
    <li data-testid="recording-item">
      {uri ? <video controls preload="metadata" src={uri} aria-label={label} /> : <p className="muted">{t("after.noLink")}</p>}
      <p>
        {Math.round(r.durationSeconds)} s · {(Number(r.sizeBytes) / 1e6).toFixed(1)} MB
        {uri && (
          <>
            {" · "}
            <a href={uri} download={`${r.name.split("/").pop()}.webm`}>
              {t("after.download")}
            </a>
          </>
        )}
      </p>
    </li>
  );
}
