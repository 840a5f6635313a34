// The admin status page (/admin/status): live charts of the platform from the same PromQL queries
// as the Grafana overview dashboard. The edge runs a fixed list of them against Prometheus
// (GET /v1/admin/status, admins only: the edge checks the access token's role, this page only
// hides its link from others); the browser picks the time window, never a query.
import { User_Role } from "@gen/meetmesh/user/v1/user_pb";
import { useEffect, useState } from "react";
import { session } from "./api";
import { useI18n, type Lang } from "./i18n";
import { Page } from "./ui";

export type Series = { name: string; points: [number, number | null][] };
export type Chart = { key: string; title: string; unit: string; series: Series[] };
export type StatusReply = { window_s: number; step_s: number; charts: Chart[] };

const WINDOWS = ["5m", "15m", "1h", "6h"] as const;
const REFRESH_MS = 15_000;
const COLORS = ["#1f5fd1", "#b42318", "#0e7c4a", "#8a4bd6", "#b35c00", "#107c91", "#5c6270"];

// Strings of this page only (kept here, beside the page, in both languages).
const TEXT: Record<Lang, Record<string, string>> = {
  en: {
    nav: "Status",
    title: "Platform status",
    window: "Time window",
    refused: "This page is for admins.",
    unavailable: "The metrics are not available right now (Prometheus cannot be reached).",
    failed: "The status could not be loaded.",
    empty: "No data in this window.",
    updated: "Updated {time}; refreshes every 15 s.",
    latest: "latest",
    max: "max",
    "chart.up": "Services up",
    "chart.meetings": "Active meetings",
    "chart.participants": "Active participants",
    "chart.rps": "Calls per second by service",
    "chart.errors": "Server error ratio by service (5m)",
    "chart.p99": "p99 latency of unary calls by service (5m)",
  },
  zh: {
    nav: "状态",
    title: "平台状态",
    window: "时间范围",
    refused: "此页面仅供管理员使用。",
    unavailable: "暂时无法获取指标（无法连接 Prometheus）。",
    failed: "无法加载状态。",
    empty: "此时间范围内没有数据。",
    updated: "更新于 {time}；每 15 秒刷新。",
    latest: "最新",
    max: "最大",
    "chart.up": "运行中的服务",
    "chart.meetings": "进行中的会议",
    "chart.participants": "在线参会者",
    "chart.rps": "各服务每秒调用数",
    "chart.errors": "各服务服务器错误率（5 分钟）",
    "chart.p99": "各服务一元调用 p99 延迟（5 分钟）",
  },
};

export const isAdmin = () => session.user?.role === User_Role.ADMIN;
export const statusNavLabel = (lang: Lang) => TEXT[lang].nav;

/** A value in the chart's unit, short. */
export function formatValue(value: number | null, unit: string): string {
  if (value === null) return "–";
  if (unit === "percentunit") return `${(value * 100).toFixed(value < 0.1 ? 2 : 1)}%`;
  if (unit === "s") return value < 1 ? `${(value * 1000).toFixed(value < 0.01 ? 2 : 0)} ms` : `${value.toFixed(2)} s`;
  if (unit === "reqps") return `${value < 10 ? value.toFixed(2) : value.toFixed(0)}/s`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/** The SVG path of one series in a width x height box, x over [from, to], y over [0, top]; the pen
 * lifts at gaps, and a lone point is a zero-length segment (a dot with round caps). */
export function linePath(points: [number, number | null][], from: number, to: number, top: number, width: number, height: number): string {
  const span = Math.max(to - from, 1);
  const runs: string[][] = [];
  let run: string[] | undefined;
  for (const [t, v] of points) {
    if (v === null || t < from) {
      run = undefined;
      continue;
    }
    const x = ((t - from) / span) * width;
    const y = height - (top > 0 ? (v / top) * height : 0);
    if (!run) runs.push((run = []));
    run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  return runs.map((r) => `M${r[0]}` + (r.length === 1 ? "l0,0" : r.slice(1).map((xy) => `L${xy}`).join(""))).join("");
}

/** The time span a chart draws: the window, or less while Prometheus has data for only part of it
 * (a fresh installation), so that a few points are a line and not a dot at the right edge; the
 * axis says which times it shows. */
export function drawnSpan(series: Series[], windowS: number): [number, number] {
  const times = series.flatMap((s) => s.points.filter((p) => p[1] !== null).map((p) => p[0]));
  if (times.length === 0) return [0, 0];
  const to = Math.max(...times);
  return [Math.max(Math.min(...times), to - windowS), to];
}

function LineChart({ chart, windowS, lang }: { chart: Chart; windowS: number; lang: Lang }) {
  const text = TEXT[lang];
  const title = text[`chart.${chart.key}`] ?? chart.title;
  const width = 320;
  const height = 110;
  const values = chart.series.flatMap((s) => s.points.map((p) => p[1]).filter((v): v is number => v !== null));
  const steps = Math.max(0, ...chart.series.map((s) => s.points.filter((p) => p[1] !== null).length));
  const max = Math.max(...values, 0);
  const top = max > 0 ? max * 1.1 : 1;
  const [from, to] = drawnSpan(chart.series, windowS);
  const clock = (t: number) => new Date(t * 1000).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const latest = (s: Series) => [...s.points].reverse().find((p) => p[1] !== null)?.[1] ?? null;
  const summary = chart.series.map((s) => `${s.name}: ${formatValue(latest(s), chart.unit)}`).join(", ");
  return (
    <figure className="card status-chart" data-testid="status-chart" data-key={chart.key} data-points={values.length} data-steps={steps}>
      <figcaption>
        <h2>{title}</h2>
      </figcaption>
      {values.length === 0 ? (
        <p className="muted">{text.empty}</p>
      ) : (
        <>
          <p className="muted status-axis">
            <span>
              {text.max} {formatValue(max, chart.unit)}
            </span>
          </p>
          <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}: ${summary}`} preserveAspectRatio="none">
            <line x1="0" y1={height} x2={width} y2={height} stroke="#8a93a3" vectorEffect="non-scaling-stroke" />
            <line x1="0" y1={height - max / top * height} x2={width} y2={height - max / top * height} stroke="#e3e6eb" strokeDasharray="4 4" vectorEffect="non-scaling-stroke" />
            {/* earlier series drawn wider, so that lines on top of each other (every service up)
                show as stripes of each colour instead of the last one only */}
            {chart.series.map((s, i) => (
              <path key={s.name} d={linePath(s.points, from, to, top, width, height)} fill="none" stroke={COLORS[i % COLORS.length]} strokeWidth={2 + (chart.series.length - 1 - i) * 1.5} strokeLinejoin="round" strokeLinecap="round" vectorEffect="non-scaling-stroke" />
            ))}
          </svg>
          <p className="muted status-axis">
            <span>{clock(from)}</span>
            <span>{clock(to)}</span>
          </p>
          <ul className="status-legend">
            {chart.series.map((s, i) => (
              <li key={s.name}>
                <span className="swatch" style={{ background: COLORS[i % COLORS.length] }} aria-hidden="true" />
                {s.name} <span className="muted">({text.latest} {formatValue(latest(s), chart.unit)})</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </figure>
  );
}

const STYLE = `
.status-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }
.status-chart { margin: 0; }
.status-chart h2 { font-size: 1rem; }
.status-chart svg { width: 100%; height: 110px; display: block; }
.status-axis { margin: 0.2rem 0; font-size: 0.8rem; display: flex; justify-content: space-between; }
.status-legend { list-style: none; padding: 0; margin: 0.5rem 0 0; display: flex; flex-wrap: wrap; gap: 0.25rem 0.9rem; font-size: 0.9rem; }
.swatch { display: inline-block; width: 0.8rem; height: 0.8rem; border-radius: 2px; margin-right: 0.3rem; vertical-align: -1px; }
`;

type Problem = "refused" | "unavailable" | "failed";

async function fetchStatus(range: string): Promise<StatusReply> {
  await session.ensureFresh();
  const reply = await fetch(`/v1/admin/status?window=${encodeURIComponent(range)}`, {
    headers: { authorization: `Bearer ${session.accessToken}` },
  });
  if (reply.status === 403 || reply.status === 401) throw "refused" satisfies Problem;
  if (reply.status === 503) throw "unavailable" satisfies Problem;
  if (!reply.ok) throw "failed" satisfies Problem;
  return (await reply.json()) as StatusReply;
}

export function AdminStatus() {
  const { lang } = useI18n();
  const text = TEXT[lang];
  // the window is in the address too (?window=1h), so that a view can be shared or reloaded
  const [range, setRange] = useState<string>(() => {
    const asked = new URLSearchParams(location.search).get("window") ?? "";
    return (WINDOWS as readonly string[]).includes(asked) ? asked : "15m";
  });
  const choose = (w: string) => {
    setRange(w);
    history.replaceState(null, "", `${location.pathname}?window=${encodeURIComponent(w)}`);
  };
  const [data, setData] = useState<StatusReply>();
  const [problem, setProblem] = useState<Problem>();
  const [updated, setUpdated] = useState<Date>();

  useEffect(() => {
    let live = true;
    const load = () =>
      fetchStatus(range).then(
        (r) => {
          if (!live) return;
          setData(r);
          setProblem(undefined);
          setUpdated(new Date());
        },
        (err: unknown) => live && setProblem(typeof err === "string" ? (err as Problem) : "failed"),
      );
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [range]);

  return (
    <Page title={text.title} wide>
      <style>{STYLE}</style>
      {problem === "refused" ? (
        <p className="banner error" role="alert" data-testid="status-refused">
          {text.refused}
        </p>
      ) : (
        <>
          <div className="actions">
            <label htmlFor="status-window">{text.window}</label>
            <select id="status-window" value={range} onChange={(e) => choose(e.target.value)}>
              {WINDOWS.map((w) => (
                <option key={w} value={w}>
                  {w}
                </option>
              ))}
            </select>
            {updated && (
              <span className="muted" role="status">
                {text.updated.replace("{time}", updated.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en"))}
              </span>
            )}
          </div>
          {problem && (
            <p className="banner error" role="alert" data-testid="status-problem">
              {text[problem]}
            </p>
          )}
          {data && (
            <div className="status-grid" data-testid="status-charts">
              {data.charts.map((c) => (
                <LineChart key={c.key} chart={c} windowS={data.window_s} lang={lang} />
              ))}
            </div>
          )}
        </>
      )}
    </Page>
  );
}
