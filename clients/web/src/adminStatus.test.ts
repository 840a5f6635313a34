// The admin status page's pure parts: value formatting and the chart's line.
import { describe, expect, it } from "vitest";
import { drawnSpan, formatValue, linePath } from "./AdminStatus";
import { match, needsAuth } from "./router";

describe("admin status", () => {
  it("has its route, behind sign-in", () => {
    expect(match("/admin/status", "?window=1h")).toEqual({ name: "adminStatus" });
    expect(needsAuth(match("/admin/status"))).toBe(true);
    expect(match("/admin/status/x")).toEqual({ name: "notFound" });
  });

  it("formats values in each chart unit", () => {
    expect(formatValue(0.0123, "percentunit")).toBe("1.23%");
    expect(formatValue(0.25, "percentunit")).toBe("25.0%");
    expect(formatValue(0.0042, "s")).toBe("4.20 ms");
    expect(formatValue(0.25, "s")).toBe("250 ms");
    expect(formatValue(2.5, "s")).toBe("2.50 s");
    expect(formatValue(3.456, "reqps")).toBe("3.46/s");
    expect(formatValue(42, "short")).toBe("42");
    expect(formatValue(null, "s")).toBe("–");
  });

  it("draws a line over the window and lifts the pen at gaps", () => {
    const path = linePath(
      [
        [100, 0],
        [150, 5],
        [175, null],
        [200, 10],
      ],
      100,
      200,
      10,
      100,
      50,
    );
    expect(path).toBe("M0.0,50.0L50.0,25.0M100.0,0.0l0,0");
    expect(linePath([[100, null]], 100, 200, 10, 100, 50)).toBe("");
    expect(linePath([[50, 3], [100, 10]], 100, 200, 10, 100, 50)).toBe("M0.0,0.0l0,0"); // before the span: left out
  });

  it("draws the window, or only the part of it with data", () => {
    expect(drawnSpan([{ name: "a", points: [[100, null], [1000, 1], [1100, 2]] }], 900)).toEqual([1000, 1100]);
    expect(drawnSpan([{ name: "a", points: [[0, 1], [1000, 1]] }], 900)).toEqual([100, 1000]);
    expect(drawnSpan([{ name: "a", points: [] }], 900)).toEqual([0, 0]);
  });
});
