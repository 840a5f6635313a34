// Figures for the insights page, computed from what the platform returns (unit-tested).
import { timestampDate, type Duration } from "@bufbuild/protobuf/wkt";

export const seconds = (d?: Duration) => (d ? Number(d.seconds) + d.nanos / 1e9 : 0);

/** Seconds spoken per speaker (participant resource name), from transcript segments. */
export function speakingTime(segments: { speaker: string; startOffset?: Duration; endOffset?: Duration }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of segments) {
    const length = Math.max(0, seconds(s.endOffset) - seconds(s.startOffset));
    out.set(s.speaker, (out.get(s.speaker) ?? 0) + length);
  }
  return out;
}

export interface Bar {
  label: string;
  value: number;
}

/** Bars scaled to `width`, with a "nice" maximum. */
export function scaleBars(bars: Bar[], width: number): { label: string; value: number; w: number }[] {
  const max = Math.max(1, ...bars.map((b) => b.value));
  return bars.map((b) => ({ ...b, w: (b.value / max) * width }));
}

/** Points of a join timeline: minutes since the first join, per participant. */
export function joinTimeline(
  participants: { displayName: string; createTime?: Parameters<typeof timestampDate>[0]; admitTime?: Parameters<typeof timestampDate>[0] }[],
): { label: string; minute: number }[] {
  const times = participants
    .map((p) => ({ label: p.displayName, t: p.admitTime ? timestampDate(p.admitTime).getTime() : p.createTime ? timestampDate(p.createTime).getTime() : NaN }))
    .filter((p) => !Number.isNaN(p.t));
  if (!times.length) return [];
  const first = Math.min(...times.map((p) => p.t));
  return times.map((p) => ({ label: p.label, minute: (p.t - first) / 60_000 }));
}

export const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"] as const;

export interface EmotionRow {
  label: string;
  total: number;
  segments: { emotion: string; count: number; x: number; w: number }[];
}

/** Emotion interval widths the insights page may ask for, in seconds. */
export const EMOTION_INTERVALS = [10, 30, 60, 300, 900, 3600] as const;
/** At most this many rows in the emotion chart. */
export const MAX_EMOTION_ROWS = 24;

/** The narrowest interval that draws a timeline spanning `spanSeconds` in at most `MAX_EMOTION_ROWS` rows. */
export function emotionInterval(spanSeconds: number): number {
  return EMOTION_INTERVALS.find((i) => Math.ceil(spanSeconds / i) <= MAX_EMOTION_ROWS) ?? 3600;
}

/** "10 s", "1 min", "1 h": an interval as the chart's caption says it. */
export function intervalText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${seconds / 60} min`;
  return `${seconds / 3600} h`;
}

/** "09:05" or "09:05:20": a time of day in the browser's time zone. */
export function clock(when: Date, withSeconds: boolean): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const minutes = `${two(when.getHours())}:${two(when.getMinutes())}`;
  return withSeconds ? `${minutes}:${two(when.getSeconds())}` : minutes;
}

/** Stacked bars of the emotion timeline (faces per emotion per interval), scaled to `width`.
 * `emotion` is the `Emotion` enum value (1 = angry ... 7 = neutral); rows are labelled with their
 * start in the browser's time zone, to the second when the interval is shorter than a minute. */
export function emotionRows(
  intervals: { startTime?: Parameters<typeof timestampDate>[0]; counts: { emotion: number; count: number }[] }[],
  width: number,
  intervalSeconds = 60,
): EmotionRow[] {
  const totals = intervals.map((i) => i.counts.reduce((sum, c) => sum + c.count, 0));
  const max = Math.max(1, ...totals);
  return intervals.map((interval, index) => {
    let x = 0;
    const segments = [...interval.counts]
      .sort((a, b) => a.emotion - b.emotion)
      .map((c) => {
        const w = (c.count / max) * width;
        const segment = { emotion: EMOTIONS[c.emotion - 1] ?? "neutral", count: c.count, x, w };
        x += w;
        return segment;
      });
    const start = interval.startTime ? timestampDate(interval.startTime) : undefined;
    const label = start ? clock(start, intervalSeconds < 60) : "?";
    return { label, total: totals[index], segments };
  });
}

/** Trigger a download of text in the browser. */
export function downloadText(filename: string, content: string, type: string): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Recording download URLs seen in this tab (signaling sends one when a recording stops;
 * `ListRecordings` returns none yet), by recording name. */
export function rememberRecording(name: string, uri: string, storage: Pick<Storage, "setItem"> = sessionStorage): void {
  if (name && uri) storage.setItem(`meetmesh.recording.${name}`, uri);
}

export function recordingUri(
  recording: { name: string; downloadUri: string },
  storage: Pick<Storage, "getItem"> = sessionStorage,
): string {
  return recording.downloadUri || storage.getItem(`meetmesh.recording.${recording.name}`) || "";
}
