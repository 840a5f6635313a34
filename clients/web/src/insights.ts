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
